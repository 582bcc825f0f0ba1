package service

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

var (
	errWrongKey    = errors.New("wrong key")
	errErased      = errors.New("key erased")
	errUnreachable = errors.New("remote unreachable")
)

// cliExitCode stands for the command line's mapping.
func cliExitCode(err error) int {
	switch {
	case errors.Is(err, errWrongKey):
		return 3
	case errors.Is(err, errErased):
		return 4
	case errors.Is(err, errUnreachable):
		return 5
	}
	return 1
}

// Under launchd (NoRestartEnv set by the plist) a final exit code becomes a
// clean exit, which KeepAlive/SuccessfulExit=false does not restart; other
// failures keep their code, and launchd restarts them.
func TestRunFinalExit(t *testing.T) {
	fail := func(err error) func(context.Context) error {
		return func(context.Context) error { return err }
	}
	t.Setenv(NoRestartEnv, "2 3 4")
	for _, err := range []error{errWrongKey, errErased} {
		var report strings.Builder
		if got := Run(t.Context(), fail(err), cliExitCode, &report); got != nil {
			t.Errorf("%v under a service manager that restarts on any failure: Run = %v, want nil (exit 0)", err, got)
		}
		if !strings.Contains(report.String(), err.Error()) {
			t.Errorf("%v ended the service for good; the report says %q", err, report.String())
		}
	}
	if got := Run(t.Context(), fail(errUnreachable), cliExitCode, io.Discard); !errors.Is(got, errUnreachable) {
		t.Errorf("a failure a restart can fix: Run = %v", got)
	}
	if got := Run(t.Context(), fail(nil), cliExitCode, io.Discard); got != nil {
		t.Errorf("a clean stop: Run = %v", got)
	}
	// Without the variable (systemd, a terminal) errors pass unchanged.
	t.Setenv(NoRestartEnv, "")
	if got := Run(t.Context(), fail(errWrongKey), cliExitCode, io.Discard); !errors.Is(got, errWrongKey) {
		t.Errorf("outside launchd: Run = %v, want the error", got)
	}
}

func TestNoRestartCodes(t *testing.T) {
	got := noRestartCodes(" 2 3\t4 x 0 ")
	if len(got) != 3 || got[0] != 2 || got[1] != 3 || got[2] != 4 {
		t.Fatalf("noRestartCodes = %v", got)
	}
}

// The Windows decision, tested here: a clean stop and a final code are
// reported (no restart: not a failure to the service control manager);
// anything else ends the process unreported, so the recovery action
// restarts it after 30 s.
func TestSCMOutcome(t *testing.T) {
	final := []int{2, 3, 4}
	for _, c := range []struct {
		code int
		want scmStop
	}{
		{0, scmStop{report: true}},
		{3, scmStop{report: true, code: 3}},
		{4, scmStop{report: true, code: 4}},
		{5, scmStop{code: 5}},
		{1, scmStop{code: 1}},
	} {
		if got := scmOutcome(c.code, final); got != c.want {
			t.Errorf("scmOutcome(%d) = %+v, want %+v", c.code, got, c.want)
		}
	}
}

// Under the service control manager the process's stderr goes nowhere, and
// a failure that is not final ends the process without returning: its
// error is written to the report (the daemon's log) before, as a final
// one's is.
func TestSCMEndReportsTheError(t *testing.T) {
	final := []int{2, 3, 4}
	for _, err := range []error{errUnreachable, errWrongKey} {
		var report strings.Builder
		scmEnd(err, cliExitCode, final, &report)
		if !strings.Contains(report.String(), err.Error()) {
			t.Errorf("the daemon ended with %q; the report says %q", err, report.String())
		}
	}
	var report strings.Builder
	if got := scmEnd(nil, cliExitCode, final, &report); got != (scmStop{report: true}) || report.Len() != 0 {
		t.Errorf("a clean stop: %+v, report %q", got, report.String())
	}
}
