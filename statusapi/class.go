package statusapi

import "errors"

// Classes of ErrorBody.Class: each stands for one of the CLI's exit codes
// (README, "Exit codes"). Classes may be added; a client takes one it does
// not know as no class.
const (
	ClassFailure      = "failure"       // any other failure (exit 1)
	ClassUsage        = "usage"         // bad configuration, a newer repository (2)
	ClassWrongKey     = "wrong_key"     // a wrong or rotated key (3)
	ClassKeyErased    = "key_erased"    // the vault erased the key, or can no longer open it (4)
	ClassUnreachable  = "unreachable"   // a remote or the vault is out of reach (5)
	ClassIntegrity    = "integrity"     // damaged, rolled back or forked (6)
	ClassTakenOver    = "taken_over"    // another device writes the repository (7)
	ClassIncomplete   = "incomplete"    // saved without some paths (8)
	ClassPartial      = "partial"       // worked on the intact part (9)
	ClassAttemptSpent = "attempt_spent" // a vault login spent an attempt (10)
	ClassStateInUse   = "state_in_use"  // another process holds the state directory (11)
)

// ClassError is an error with its class: the daemon's Backend returns one
// so that the answer carries the class, and the client returns one with
// the class the answer carried.
type ClassError struct {
	Class string
	Err   error
}

func (e *ClassError) Error() string { return e.Err.Error() }
func (e *ClassError) Unwrap() error { return e.Err }

// WithClass gives err the class (nil stays nil; "" leaves err as is).
func WithClass(err error, class string) error {
	if err == nil || class == "" {
		return err
	}
	return &ClassError{Class: class, Err: err}
}

// ClassOf is the class err carries ("" when none).
func ClassOf(err error) string {
	var ce *ClassError
	if errors.As(err, &ce) {
		return ce.Class
	}
	return ""
}
