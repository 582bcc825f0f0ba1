package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// A signal (SIGINT: Ctrl-C, or SIGTERM) cancels the command's context
// once (signalContext). A command that then fails was interrupted
// (interrupted): it exits 130 or 143, 128 + the signal's number, as a
// shell reports a process the signal ended. A command may say what the
// interruption leaves behind (whenInterrupted). A second signal ends the
// process at once.

// signalCause is the cause of a context a signal cancelled.
type signalCause struct{ sig syscall.Signal }

func (c signalCause) Error() string { return c.sig.String() + " signal received" }

// signalContext returns a context the first SIGINT or SIGTERM cancels,
// with a signalCause, and says on stderr that the command stops. Then it
// stops catching them: the next one takes its default action and ends
// the process at once (the shell reports 130 or 143), for a command whose
// clean stop waits on a remote that does not answer. That loses nothing
// a crash would not: a delta is committed by a rename after its fsync,
// and the next run removes a .partial left behind. stop stops listening,
// cancels the context and waits for the goroutine that listened.
func signalContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case s := <-ch:
			// Caught no more before the line below tells the user so.
			signal.Stop(ch)
			sig, _ := s.(syscall.Signal)
			cancel(signalCause{sig})
			fmt.Fprint(os.Stderr, stoppingLine(sig, isTerminal(os.Stderr)))
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
		<-done
	}
}

// stoppingLine is what the first signal prints: the command stops, and
// how to end it at once. On a terminal it starts a line of its own
// (after the ^C the terminal echoed, or a progress bar).
func stoppingLine(sig syscall.Signal, terminal bool) string {
	line := "chatsafe: stopping (press Ctrl-C again to quit at once)\n"
	if sig == syscall.SIGTERM {
		line = "chatsafe: SIGTERM: stopping (a second SIGTERM quits at once)\n"
	}
	if terminal {
		line = "\n" + line
	}
	return line
}

// interruptedError is the error of a command a signal stopped.
type interruptedError struct {
	sig syscall.Signal
	err error
}

func (e *interruptedError) Error() string {
	if e.sig == syscall.SIGTERM {
		return "stopped by SIGTERM: " + e.err.Error()
	}
	return "interrupted: " + e.err.Error()
}

func (e *interruptedError) Unwrap() error { return e.err }

func (e *interruptedError) exitCode() int {
	if e.sig == syscall.SIGTERM {
		return exitTerminated
	}
	return exitInterrupted
}

// interrupted is err, marked as an interruption when a signal cancelled
// ctx (signalContext) and the command failed.
func interrupted(ctx context.Context, err error) error {
	var sc signalCause
	if err == nil || !errors.As(context.Cause(ctx), &sc) {
		return err
	}
	return &interruptedError{sig: sc.sig, err: err}
}

// leftError says what an interrupted command leaves behind; the error it
// stopped with is left out of its message when it is only the
// cancellation (context.Canceled, or the signal as the context's cause,
// which net/http reports).
type leftError struct {
	left string
	err  error
}

func (e *leftError) Error() string {
	var sc signalCause
	if errors.Is(e.err, context.Canceled) || errors.As(e.err, &sc) {
		return e.left
	}
	return e.left + ": " + e.err.Error()
}

func (e *leftError) Unwrap() error { return e.err }

// whenInterrupted is err, or, when ctx was cancelled (the command was
// interrupted), an error that says what that leaves: left.
func whenInterrupted(ctx context.Context, err error, left string) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	return &leftError{left: left, err: err}
}
