package crypt

import (
	"context"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

// The Secret Service's names (freedesktop.org Secret Service API).
const (
	secretsName     = "org.freedesktop.secrets"
	secretsPath     = dbus.ObjectPath("/org/freedesktop/secrets")
	secretsService  = "org.freedesktop.Secret.Service"
	secretsPrompt   = "org.freedesktop.Secret.Prompt"
	loginCollection = dbus.ObjectPath("/org/freedesktop/secrets/aliases/default")
)

// unlockKeyring unlocks the Secret Service's default collection, if it is
// locked, before go-keyring is asked: go-keyring opens the unlock prompt
// itself and waits for the answer with no limit, so a prompt nobody
// answers (a screen locked, a session not unlocked yet) would hold the
// daemon's start-up for good. Here the wait is bounded by wait; past it
// the prompt is dismissed and the error wraps ErrKeyringLocked.
func unlockKeyring(wait time.Duration) error {
	conn, err := dbus.SessionBus()
	if err != nil {
		return fmt.Errorf("connecting to the session bus: %v: %w", err, ErrKeyringUnavailable)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	coll := conn.Object(secretsName, loginCollection)
	var locked bool
	err = coll.CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, "org.freedesktop.Secret.Collection", "Locked").Store(&locked)
	if err != nil && ctx.Err() != nil {
		// No answer in time is not "unlocked": go-keyring would open the
		// prompt itself and wait for it without a limit.
		return unanswered(wait)
	}
	if err != nil || !locked {
		// Unlocked, or no default collection yet: go-keyring answers
		// "not found" (a read) or makes one (a write) without a prompt.
		return nil
	}
	var unlocked []dbus.ObjectPath
	var prompt dbus.ObjectPath
	err = conn.Object(secretsName, secretsPath).CallWithContext(ctx, secretsService+".Unlock", 0, []dbus.ObjectPath{loginCollection}).Store(&unlocked, &prompt)
	if err != nil && ctx.Err() != nil {
		return unanswered(wait)
	}
	if err != nil {
		return fmt.Errorf("asking the OS keyring to unlock: %v: %w", err, ErrKeyringUnavailable)
	}
	if prompt == "/" {
		return nil // unlocked without asking anyone
	}
	return runPrompt(ctx, conn, prompt, wait)
}

// runPrompt shows the unlock prompt and waits for its answer until ctx ends.
func runPrompt(ctx context.Context, conn *dbus.Conn, prompt dbus.ObjectPath, wait time.Duration) error {
	match := []dbus.MatchOption{dbus.WithMatchObjectPath(prompt), dbus.WithMatchInterface(secretsPrompt), dbus.WithMatchMember("Completed")}
	if err := conn.AddMatchSignalContext(ctx, match...); err != nil && ctx.Err() != nil {
		return unanswered(wait)
	} else if err != nil {
		return fmt.Errorf("waiting for the OS keyring's unlock prompt: %v: %w", err, ErrKeyringUnavailable)
	}
	defer func() { _ = conn.RemoveMatchSignal(match...) }()
	signals := make(chan *dbus.Signal, 8)
	conn.Signal(signals)
	defer conn.RemoveSignal(signals)
	p := conn.Object(secretsName, prompt)
	if err := p.CallWithContext(ctx, secretsPrompt+".Prompt", 0, "").Err; err != nil {
		return fmt.Errorf("showing the OS keyring's unlock prompt: %v: %w", err, ErrKeyringLocked)
	}
	for {
		select {
		case sig, ok := <-signals:
			if !ok || sig == nil {
				return fmt.Errorf("the session bus went away during the keyring's unlock prompt: %w", ErrKeyringUnavailable)
			}
			if sig.Path != prompt || sig.Name != secretsPrompt+".Completed" {
				continue
			}
			if dismissed, _ := firstBool(sig.Body); dismissed {
				return fmt.Errorf("%w: its unlock prompt was dismissed; unlock the keyring (or set key_store: file) and start again", ErrKeyringLocked)
			}
			return nil
		case <-ctx.Done():
			// Take the prompt down: nobody waits for its answer any more.
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = p.CallWithContext(dctx, secretsPrompt+".Dismiss", 0).Err
			cancel()
			return fmt.Errorf("%w: it was not unlocked within %s of asking; unlock it (log in to the desktop session) and start again, or set key_store: file", ErrKeyringLocked, wait)
		}
	}
}

// unanswered is the error of a keyring that did not answer within wait:
// as for a prompt nobody answers, the keyring is taken as locked.
func unanswered(wait time.Duration) error {
	return fmt.Errorf("%w: it did not answer within %s; unlock it (log in to the desktop session) and start again, or set key_store: file", ErrKeyringLocked, wait)
}

// firstBool is a signal's first argument as a bool; a malformed signal
// counts as dismissed.
func firstBool(body []any) (bool, bool) {
	if len(body) == 0 {
		return true, false
	}
	b, ok := body[0].(bool)
	if !ok {
		return true, false
	}
	return b, true
}
