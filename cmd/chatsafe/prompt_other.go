//go:build !linux && !darwin

package main

import (
	"context"
	"os"

	"golang.org/x/term"
)

// readSecretLine reads one line from the terminal f with echo off. On
// Windows the console read cannot be woken, so on ctx's end the prompt
// returns and restores the console while the read stays blocked until the
// process exits, which it does next: the prompts run only in the CLI.
// ready shows the prompt: here before echo goes off, which
// term.ReadPassword does itself.
func readSecretLine(ctx context.Context, f *os.File, ready func()) ([]byte, error) {
	fd := int(f.Fd())
	saved, err := term.GetState(fd)
	if err != nil {
		return nil, err
	}
	ready()
	type read struct {
		b   []byte
		err error
	}
	done := make(chan read, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		done <- read{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-ctx.Done():
		term.Restore(fd, saved)
		return nil, ctx.Err()
	}
}
