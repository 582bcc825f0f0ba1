package service

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// NoRestartEnv carries Unit.NoRestartExitCodes to the daemon, space
// separated, where the service manager cannot be told which exit codes are
// final: launchd restarts on any non-zero exit (KeepAlive/SuccessfulExit),
// and Windows' service control manager restarts after any crash. The plist
// and the Windows service's environment set it; systemd needs it not
// (RestartPreventExitStatus=).
const NoRestartEnv = "CHATSAFE_NO_RESTART_EXIT_CODES"

// noRestartCodes parses NoRestartEnv's value; words that are not numbers
// are ignored.
func noRestartCodes(v string) []int {
	var codes []int
	for _, w := range strings.Fields(v) {
		if c, err := strconv.Atoi(w); err == nil && c != 0 {
			codes = append(codes, c)
		}
	}
	return codes
}

// Run runs the daemon (run) as the service manager expects, and returns
// what the process should exit with, as an error for exitCode to map.
// exitCode is the command line's mapping of errors to exit codes. report
// receives what Run says about the daemon's end: the daemon's log, which
// on Windows is a file (a service's stderr goes nowhere).
//
// Under launchd, an error whose exit code NoRestartEnv lists (a wrong key
// or password, an erased key, a bad config) is reported and Run returns
// nil: the process exits 0, which launchd does not restart, so the vault's
// attempts are not spent every 30 s. Under Windows' service control
// manager Run talks to the manager (see run_windows.go). Elsewhere it
// returns run's error as it is.
func Run(ctx context.Context, run func(context.Context) error, exitCode func(error) int, report io.Writer) error {
	return runService(ctx, run, exitCode, report)
}

// finalError reports err and returns nil when its exit code is one
// NoRestartEnv lists; otherwise it returns err.
func finalError(err error, exitCode func(error) int, report io.Writer) error {
	if err == nil {
		return nil
	}
	code := exitCode(err)
	if !slices.Contains(noRestartCodes(os.Getenv(NoRestartEnv)), code) {
		return err
	}
	fmt.Fprintf(report, "chatsafe: %v\nchatsafe: stopping for good (exit code %d would mean the same): restarting cannot fix this; fix it, then start the service again\n", err, code)
	return nil
}
