//go:build linux || darwin

package main

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// promptCounter is a stderr that counts the recovery key prompts written
// to it: prompts gets one value per prompt.
type promptCounter struct {
	mu      sync.Mutex
	buf     strings.Builder
	n       int
	prompts chan struct{}
}

const recoveryPromptLabel = "Recovery key ("

func newPromptCounter() *promptCounter { return &promptCounter{prompts: make(chan struct{}, 16)} }

func (w *promptCounter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for c := strings.Count(w.buf.String(), recoveryPromptLabel); w.n < c; w.n++ {
		w.prompts <- struct{}{}
	}
	return len(p), nil
}

func (w *promptCounter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// promptedSnapshots runs `snapshots --remote REMOTE` on a pseudo-terminal
// and types each line of typed at its own prompt. It returns the command's
// stdout, stderr and error; a command that ends before a prompt for every
// line fails the test.
func promptedSnapshots(t *testing.T, remote string, typed ...string) (string, string, error) {
	t.Helper()
	term := newPromptTerminal(t)
	stderr := newPromptCounter()
	var stdout bytes.Buffer
	done := make(chan error, 1)
	go func() {
		g := &globalOptions{defaultConfig: filepath.Join(t.TempDir(), "config.yaml"), stdin: term.tty}
		root := buildRootCommand(g)
		root.SetArgs([]string{"snapshots", "--remote", remote})
		root.SetOut(&stdout)
		root.SetErr(stderr)
		done <- root.ExecuteContext(t.Context())
	}()
	for i, line := range typed {
		select {
		case <-stderr.prompts:
		case err := <-done:
			t.Fatalf("the command ended before prompt %d: %v (exit %d)\nstderr: %s", i+1, err, exitCode(err), stderr.String())
		}
		if _, err := io.WriteString(term.keys, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	err := answered(t, done)
	if extra := len(stderr.prompts); extra != 0 {
		t.Fatalf("%d more prompt(s) than keys typed\nstderr: %s", extra, stderr.String())
	}
	return stdout.String(), stderr.String(), err
}

// TestRecoveryKeyPromptAsksAgain: at the prompt, a malformed key and a key
// one slip away are each refused saying why, and asked for again; the
// right key at the third try opens the repository. Three wrong keys end
// with exit 3.
func TestRecoveryKeyPromptAsksAgain(t *testing.T) {
	s := newSetup(t)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	right := keyDigits(t, s.keyFile)
	typo := replaced(right, 17)

	t.Run("right at the third try", func(t *testing.T) {
		stdout, stderr, err := promptedSnapshots(t, s.remote, "1234-zz", typo, right)
		if err != nil {
			t.Fatalf("snapshots: %v\nstderr: %s", err, stderr)
		}
		for _, want := range []string{"not a hex digit", "group 5, digit 2"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr does not say %q:\n%s", want, stderr)
			}
		}
		if lines := strings.Split(strings.TrimSpace(stdout), "\n"); len(lines) != 2 || !strings.Contains(lines[0], "SEQ") {
			t.Errorf("snapshots lists no snapshot (want a heading and one line):\n%s", stdout)
		}
		noKeyDigits(t, result{stdout: stdout, stderr: stderr}, right, typo)
	})
	t.Run("three wrong", func(t *testing.T) {
		wrong := replaced(right, 3, 40)
		stdout, stderr, err := promptedSnapshots(t, s.remote, typo, wrong, wrong)
		if exitCode(err) != exitWrongKey || !strings.Contains(fmtErr(err), "wrong recovery key") {
			t.Fatalf("three wrong keys: %v (exit %d), want a wrong key (exit 3)\nstderr: %s", err, exitCode(err), stderr)
		}
		noKeyDigits(t, result{stdout: stdout, stderr: stderr + fmtErr(err)}, right, typo, wrong)
	})
}
