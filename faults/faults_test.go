package faults

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// childEnv makes the test binary reach a crash point and report that it
// survived (see TestMain).
const childEnv = "CHATSAFE_FAULTS_CHILD"

func TestMain(m *testing.M) {
	if point := os.Getenv(childEnv); point != "" {
		if err := Point(point); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("survived\n")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild runs this test binary with point armed in EnvVar and reached.
func runChild(t *testing.T, point string) (string, error) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), self, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+point, EnvVar+"=other, "+point)
	out, err := cmd.Output()
	return string(out), err
}

// A default build ignores CHATSAFE_CRASH_AT; a chatsafe_testhooks build is
// killed at the point (exit code -1: by a signal).
func TestCrashAtEnv(t *testing.T) {
	out, err := runChild(t, "backup:spooled")
	if !TestHooks {
		if err != nil || strings.TrimSpace(out) != "survived" {
			t.Fatalf("a default build honoured %s: %q, %v", EnvVar, out, err)
		}
		return
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != -1 || strings.Contains(out, "survived") {
		t.Fatalf("a chatsafe_testhooks build was not killed at the point: %q, %v", out, err)
	}
}

func TestHook(t *testing.T) {
	boom := errors.New("boom")
	Hook = func(p string) error {
		if p == "prune:written" {
			return boom
		}
		return nil
	}
	defer func() { Hook = nil }()
	if err := Point("prune:written"); !errors.Is(err, boom) {
		t.Fatalf("Point with a Hook: %v", err)
	}
	if err := Point("upload:put"); err != nil {
		t.Fatalf("Point elsewhere: %v", err)
	}
}

func TestParse(t *testing.T) {
	m := parse("a, b,c")
	if len(m) != 3 || !m["a"] || !m["b"] || !m["c"] {
		t.Fatalf("parse: %v", m)
	}
	if parse("") != nil {
		t.Fatal("empty variable armed something")
	}
}
