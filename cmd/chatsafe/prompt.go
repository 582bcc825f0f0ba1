package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// errNothingEntered: the input ended (Ctrl-D) before a secret was typed.
var errNothingEntered = errors.New("nothing was entered")

// secret asks for a secret on the terminal p.stdin, without echo. Ctrl-C
// ends it: the CLI turns the signal into the cancellation of ctx, not into
// the process's death, so a prompt that only read the terminal would wait
// on. Ctrl-D on an empty line is a usage error. The terminal echoes again
// whichever way it ends.
func (p prompt) secret(ctx context.Context, label string) ([]byte, error) {
	// The label shows once echo is off: what is typed as soon as it
	// appears must not be echoed.
	b, err := readSecretLine(ctx, p.stdin, func() { fmt.Fprint(p.stderr, label) })
	fmt.Fprintln(p.stderr)
	switch {
	case ctx.Err() != nil:
		// main says "interrupted" (interrupt.go): this says where.
		return nil, &leftError{left: "stopped at the prompt, nothing done", err: ctx.Err()}
	case errors.Is(err, io.EOF) && len(b) == 0:
		return nil, usageErr(errNothingEntered)
	case err != nil && !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("reading from the terminal: %w", err)
	}
	return b, nil
}
