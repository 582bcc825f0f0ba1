//go:build linux || darwin

package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/chatsafe/chatsafe/crypt"
	"golang.org/x/sys/unix"
)

// A prompt for a secret runs on a real terminal (a pseudo-terminal here).
// The CLI catches Ctrl-C into its context rather than dying of it, so a
// prompt that only reads the terminal would ignore Ctrl-C: these tests
// press it (cancel the context, as the signal handler does) and Ctrl-D.

// promptTerminal is a pseudo-terminal: tty is the command's stdin, keys
// are typed on the other side.
type promptTerminal struct {
	tty  *os.File
	keys *os.File
	// shown is what the terminal displays (its echo), complete once the
	// typing side is closed and done is closed.
	shown *strings.Builder
	done  chan struct{}
}

func newPromptTerminal(t *testing.T) promptTerminal {
	t.Helper()
	keys, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("opening a pseudo-terminal: %v", err)
	}
	// Closing the typing side hangs the terminal up, which ends any read
	// still blocked on it (the old prompt, when the test fails). What the
	// terminal echoes is read all along so that writes to it never block.
	p := promptTerminal{tty: tty, keys: keys, shown: new(strings.Builder), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		io.Copy(p.shown, keys)
	}()
	t.Cleanup(func() { tty.Close(); keys.Close(); <-p.done })
	return p
}

// echoes reports whether the terminal echoes what is typed.
func (p promptTerminal) echoes(t *testing.T) bool {
	t.Helper()
	st, err := unix.IoctlGetTermios(int(p.tty.Fd()), ioctlGetTermios)
	if err != nil {
		t.Fatal(err)
	}
	return st.Lflag&unix.ECHO != 0
}

// newPromptSeen is a stderr that tells (seen) when a prompt holding
// label was written to it.
func newPromptSeen(label string) *signalWriter {
	return &signalWriter{want: label, seen: make(chan struct{})}
}

// answered waits for done, failing the test if the prompt is still
// waiting after a generous time (a prompt that ignores the key never
// answers).
func answered(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the prompt still waits for input after the key was pressed")
		return nil
	}
}

// TestRecoveryKeyPromptCtrlC: Ctrl-C at the recovery key prompt of a
// command ends the command as interrupted, and leaves the terminal
// echoing again.
func TestRecoveryKeyPromptCtrlC(t *testing.T) {
	s := newSetup(t)
	term := newPromptTerminal(t)
	seen := newPromptSeen("Recovery key")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		g := &globalOptions{defaultConfig: filepath.Join(s.home, "default-config", "config.yaml"), stdin: term.tty}
		root := buildRootCommand(g)
		root.SetArgs([]string{"snapshots", "--remote", s.remote})
		root.SetOut(io.Discard)
		root.SetErr(seen)
		done <- root.ExecuteContext(ctx)
	}()
	<-seen.seen
	cancel() // what the signal handler does on Ctrl-C
	err := answered(t, done)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stopped at the prompt") {
		t.Errorf("Ctrl-C at the prompt: %v, want an interruption (context.Canceled)", err)
	}
	if !term.echoes(t) {
		t.Error("the terminal no longer echoes after Ctrl-C at the prompt")
	}
}

// TestRecoveryKeyPromptReadsTheKey: a key typed at the prompt is read
// without being shown.
func TestRecoveryKeyPromptReadsTheKey(t *testing.T) {
	term := newPromptTerminal(t)
	seen := newPromptSeen("Recovery key")
	key, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var got crypt.Key
	go func() {
		var err error
		got, err = readRecoveryKey(t.Context(), "", prompt{term.tty, seen}, nil)
		done <- err
	}()
	<-seen.seen
	typed := key.RecoveryKey()
	if _, err := term.keys.Write([]byte(typed + "\n")); err != nil {
		t.Fatal(err)
	}
	if err := answered(t, done); err != nil || got != key {
		t.Fatalf("reading a typed recovery key: %v (same key: %v)", err, got == key)
	}
	term.tty.Close()
	<-term.done
	if strings.Contains(term.shown.String(), typed[:14]) {
		t.Errorf("the terminal showed the typed key: %q", term.shown.String())
	}
}

// TestSecretPromptsCtrlD: Ctrl-D on an empty line (end of input) at either
// secret prompt says that nothing was entered, as a usage error.
func TestSecretPromptsCtrlD(t *testing.T) {
	cases := []struct {
		name, label string
		ask         func(ctx context.Context, p prompt) error
	}{
		{"recovery key", "Recovery key", func(ctx context.Context, p prompt) error {
			_, err := readRecoveryKey(ctx, "", p, nil)
			return err
		}},
		{"vault password", "Vault password", func(ctx context.Context, p prompt) error {
			_, err := (&vaultFlags{}).password(ctx, p, false)
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			term := newPromptTerminal(t)
			seen := newPromptSeen(c.label)
			done := make(chan error, 1)
			go func() { done <- c.ask(t.Context(), prompt{term.tty, seen}) }()
			<-seen.seen
			if _, err := term.keys.Write([]byte{4}); err != nil { // Ctrl-D
				t.Fatal(err)
			}
			err := answered(t, done)
			if exitCode(err) != exitUsage || !strings.Contains(fmtErr(err), "nothing was entered") {
				t.Errorf("Ctrl-D at the %s prompt: %v (exit %d), want a usage error saying nothing was entered", c.name, err, exitCode(err))
			}
			if !term.echoes(t) {
				t.Error("the terminal no longer echoes after Ctrl-D at the prompt")
			}
		})
	}
}

// TestVaultPasswordPromptCtrlC: Ctrl-C at the vault password prompt.
func TestVaultPasswordPromptCtrlC(t *testing.T) {
	term := newPromptTerminal(t)
	seen := newPromptSeen("Vault password")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := (&vaultFlags{}).password(ctx, prompt{term.tty, seen}, true)
		done <- err
	}()
	<-seen.seen
	cancel()
	if err := answered(t, done); !errors.Is(err, context.Canceled) {
		t.Errorf("Ctrl-C at the vault password prompt: %v, want an interruption", err)
	}
	if !term.echoes(t) {
		t.Error("the terminal no longer echoes after Ctrl-C at the prompt")
	}
}

// fmtErr is err's text, or "" for nil.
func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
