package vault

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by the Client. They are wrapped with context; test with
// errors.Is. The CLI maps them to exit codes in one place.
var (
	// ErrWrongPassword is matched by every WrongPasswordError.
	ErrWrongPassword = errors.New("wrong password")
	// ErrErased means the vault destroyed the account's key material after
	// too many wrong passwords. Only the recovery key can restore now.
	ErrErased = errors.New("the vault erased this backup key after too many wrong passwords; restore with the recovery key")
	// ErrUnreachable means no vault URL answered (network, TLS or server failure).
	ErrUnreachable = errors.New("vault unreachable")
	// ErrCertificate means the client refused the TLS certificate of every
	// vault URL it tried (not signed by what --vault-ca pins, not for the
	// host in the URL, expired): a configuration problem, which trying
	// again does not fix. Such an error also matches ErrUnreachable (no
	// node took the request), so a login treats it as it did.
	ErrCertificate = errors.New("the vault's TLS certificate is refused")
	// ErrNotOwner means the account exists and the presented owner proof
	// (derived from the backup key) does not match the one registered.
	ErrNotOwner = errors.New("account exists and the owner proof does not match")
	// ErrRateLimited means the vault refused the request because of its
	// per-address or per-account rate limits.
	ErrRateLimited = errors.New("too many requests; try again later")
	// ErrNotFound means Delete named an account the vault does not hold.
	ErrNotFound = errors.New("no such account in the vault")
	// ErrTooSoon is matched by every RetryAfterError.
	ErrTooSoon = errors.New("too soon after wrong passwords")
	// ErrAttemptSpent is matched by a login that failed after the vault
	// counted its password attempt (an answer lost, a node failing at
	// login/finish, too few key shares, a malformed answer): a new login
	// spends another. ErrAttemptKept says when a retry from the same
	// process does not.
	ErrAttemptSpent = errors.New("the login had spent a password attempt")
	// ErrAttemptKept is matched by a login that failed after the vault
	// counted its attempt whose blinded password the client keeps: a
	// Recover of the same login from the same process soon after is that
	// attempt again and costs nothing (a daemon's next try). It also
	// matches ErrAttemptSpent: a new process (a command run again) spends
	// another.
	ErrAttemptKept = errors.New("the login's counted attempt is kept for the next try")
	// ErrFewShareHolders is matched by a ShareHoldersError: the vault
	// refused a login before counting it, because too few of the nodes
	// that hold the account's key shares answer. It also matches
	// ErrUnreachable (try again once they are back).
	ErrFewShareHolders = errors.New("too few of the vault nodes that hold this account's key shares answer")
	// ErrHoldersGone is matched by a HoldersGoneError: the vault refused a
	// login before counting it, because too few of the nodes that hold the
	// account's key shares are still members of the vault cluster. No wait
	// helps (it does not match ErrUnreachable): only the recovery key opens
	// the backup now, and setting the password again shares the key among
	// the current nodes.
	ErrHoldersGone = errors.New("the vault can no longer open this backup key with the password: too few of the nodes holding its key shares are still vault members; restore with the recovery key, then set the password again (`chatsafe key set-password`)")
)

// HoldersGoneError is a login the vault refused before counting it, for
// good: fewer of the nodes holding the account's key shares are still
// members than the account's threshold needs. Msg is the vault's account
// of it (which nodes hold shares, which are gone, what to do); Node the
// URL that said so. It matches ErrHoldersGone only.
type HoldersGoneError struct{ Node, Msg string }

func (e HoldersGoneError) Error() string {
	if e.Msg == "" {
		return fmt.Sprintf("%s (%s)", ErrHoldersGone, e.Node)
	}
	return fmt.Sprintf("%s (%s)", e.Msg, e.Node)
}

// Is makes errors.Is(err, ErrHoldersGone) true.
func (e HoldersGoneError) Is(target error) bool { return target == ErrHoldersGone }

// ShareHoldersError is a login the vault refused before counting its
// attempt: fewer of the nodes holding the account's key shares answer
// than the account's threshold needs. Msg is the vault's account of it
// (which nodes hold shares, which answer, what to do); Node the URL that
// said so. It matches ErrFewShareHolders and ErrUnreachable. Its text
// speaks for this refusal only: the same login may have spent an attempt
// before it (an earlier try whose answer was lost, which this one
// repeated), or on a node that did not answer in the same call.
type ShareHoldersError struct{ Node, Msg string }

func (e ShareHoldersError) Error() string {
	return fmt.Sprintf("%s (%s; this refusal counted no password attempt)", e.Msg, e.Node)
}

// Is makes errors.Is(err, ErrFewShareHolders) and errors.Is(err,
// ErrUnreachable) true.
func (e ShareHoldersError) Is(target error) bool {
	return target == ErrFewShareHolders || target == ErrUnreachable
}

// AttemptSpent marks err, a login's failure after the vault counted the
// attempt, so that it matches ErrAttemptSpent too (nil stays nil).
func AttemptSpent(err error) error {
	// Only an unreachable vault is worth marking: the others (a wrong
	// password, an erased key) are never retried by themselves anyway.
	if err == nil || !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrAttemptSpent) {
		return err
	}
	return attemptSpentError{err}
}

type attemptSpentError struct{ err error }

func (e attemptSpentError) Error() string {
	return e.err.Error() + " (the login had spent one of the vault's password attempts: not tried again by itself; try again once the vault is healthy)"
}
func (e attemptSpentError) Unwrap() error        { return e.err }
func (e attemptSpentError) Is(target error) bool { return target == ErrAttemptSpent }

// AttemptKept marks err, a login's failure after the vault counted the
// attempt, whose blinded password the client keeps for kept: it matches
// ErrAttemptKept and ErrAttemptSpent (nil stays nil).
func AttemptKept(err error, kept time.Duration) error {
	if err == nil {
		return nil
	}
	return attemptKeptError{err, kept}
}

type attemptKeptError struct {
	err  error
	kept time.Duration
}

func (e attemptKeptError) Error() string {
	return fmt.Sprintf("%s (the vault counted this login's password attempt and the login failed after it: a try from this process within %s is the same attempt and costs nothing, and a daemon makes it by itself; a command run again has spent one of the vault's password attempts and spends one more, so run it once the vault is healthy)", e.err, e.kept)
}
func (e attemptKeptError) Unwrap() error { return e.err }
func (e attemptKeptError) Is(target error) bool {
	return target == ErrAttemptKept || target == ErrAttemptSpent
}

// CertificateRefused marks err, the failures of vault nodes whose TLS
// certificates the client refused, so that it matches ErrCertificate and
// ErrUnreachable.
func CertificateRefused(err error) error { return certificateError{err} }

type certificateError struct{ err error }

func (e certificateError) Error() string {
	return "the vault's TLS certificate is refused (a configuration problem: trying again does not help): " + e.err.Error()
}
func (e certificateError) Unwrap() error { return e.err }
func (e certificateError) Is(target error) bool {
	return target == ErrCertificate || target == ErrUnreachable
}

// RetryAfterError says the vault takes no password attempt for this
// account before Wait has passed: after the first few wrong passwords each
// one costs a growing delay (kept by the vault, so another device or a
// restart does not skip it). It matches ErrTooSoon.
type RetryAfterError struct {
	Wait time.Duration
}

func (e RetryAfterError) Error() string {
	return fmt.Sprintf("after several wrong passwords the vault takes the next attempt in %s; try again then", roundUpWait(e.Wait))
}

// roundUpWait renders a wait for a person: up to the next whole second,
// and above a minute up to the next whole minute. It rounds up, never
// down, so the time it names is never one the vault still refuses (the
// wait also shrinks while the reply travels: "59m59s" read as a bug).
func roundUpWait(d time.Duration) time.Duration {
	unit := time.Second
	if d > time.Minute {
		unit = time.Minute
	}
	if r := d % unit; r != 0 {
		d += unit - r
	}
	return d
}

// Is makes errors.Is(err, ErrTooSoon) true.
func (e RetryAfterError) Is(target error) bool { return target == ErrTooSoon }

// WrongPasswordError reports a wrong password together with the number of
// attempts the vault still allows before it erases the key. It matches
// ErrWrongPassword with errors.Is; the one that spent the last attempt
// (Left 0) also matches ErrErased: the vault erases the key as that login
// ends (the client aborts it at once), so it is the news of the erasure,
// told by the attempt that caused it.
type WrongPasswordError struct {
	Left int
}

func (e WrongPasswordError) Error() string {
	switch e.Left {
	case 0:
		return "wrong password, and it was the last attempt the vault allowed: the vault erased this backup key; restore with the recovery key (then set a new password with `chatsafe key set-password`)"
	case 1:
		return "wrong password, 1 attempt left (the next wrong one erases the key)"
	default:
		return fmt.Sprintf("wrong password, %d attempts left", e.Left)
	}
}

// Is makes errors.Is(err, ErrWrongPassword) true, and errors.Is(err,
// ErrErased) for the last attempt.
func (e WrongPasswordError) Is(target error) bool {
	return target == ErrWrongPassword || (target == ErrErased && e.Left == 0)
}
