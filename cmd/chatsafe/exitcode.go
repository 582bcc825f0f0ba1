package main

import (
	"errors"
	"strings"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/mount"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/service"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusapi/client"
	"github.com/chatsafe/chatsafe/statusui"
	"github.com/chatsafe/chatsafe/store"
	"github.com/chatsafe/chatsafe/vault"
)

// Exit codes are part of the CLI contract (README, "Exit codes").
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitWrongKey    = 3
	exitKeyErased   = 4
	exitUnreachable = 5
	exitIntegrity   = 6
	exitTakenOver   = 7
	// exitIncomplete: the snapshot was saved, but some paths could not be
	// read (restic's 3; ours is taken by a wrong key).
	exitIncomplete = 8
	// exitPartial: the command worked on the intact part of a damaged
	// repository (a newer delta is missing or damaged; see `repair`).
	exitPartial = 9
	// exitAttemptSpent: a vault login failed after the vault counted its
	// password attempt; no restart may try again by itself (each try
	// spends one, and enough erase the key).
	exitAttemptSpent = 10
	// exitStateInUse: another chatsafe process (the daemon) holds the
	// installation's state directory, which the command must write.
	exitStateInUse = 11
	// exitInterrupted and exitTerminated: a signal stopped the command
	// (Ctrl-C: SIGINT; SIGTERM), 128 + its number as shells report it
	// (interrupt.go). Not the daemon's: a signal is how it is stopped, and
	// it stops cleanly and exits 0 on either.
	exitInterrupted = 130
	exitTerminated  = 143
)

// usageError marks bad flags, arguments or configuration.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErr(err error) error { return usageError{err} }

// exitMappings are checked in order; the first match decides the exit code.
// Packages contribute their sentinel errors here and only here.
var exitMappings = []struct {
	target error
	code   int
}{
	{store.ErrWrongKey, exitWrongKey},
	{store.ErrPartial, exitPartial},
	{store.ErrKeyRotated, exitWrongKey},
	{store.ErrRotating, exitWrongKey},
	{store.ErrIntegrity, exitIntegrity},
	{store.ErrRollback, exitIntegrity},
	{store.ErrFork, exitIntegrity},
	{check.ErrDiverged, exitIntegrity},
	{store.ErrTakenOver, exitTakenOver},
	// A takeover (or fork resolve) that would drop snapshots backed up
	// offline: the take-over family, resolved by the user's choice.
	{store.ErrOfflineUnsent, exitTakenOver},
	{crypt.ErrMalformedRecoveryKey, exitUsage},
	{crypt.ErrKeyCacheInsecure, exitUsage},
	// This installation's state to fix, as a missing key is (ErrNoKey):
	// `chatsafe key import` puts the key back.
	{crypt.ErrKeyCacheCorrupt, exitUsage},
	{crypt.ErrSecretFileInsecure, exitUsage},
	{configs.ErrConfig, exitUsage},
	{restore.ErrTargetNotEmpty, exitUsage},
	{restore.ErrNothingMatched, exitUsage},
	{restore.ErrDeleteUnsafe, exitUsage},
	{store.ErrRepositoryGone, exitUnreachable},
	{store.ErrReseed, exitUsage},
	{store.ErrNoRepository, exitUsage},
	// A config version or cipher from a newer chatsafe: no retry helps,
	// an upgrade does (and the daemon is not restarted, as for bad config).
	{store.ErrUnsupported, exitUsage},
	{store.ErrSnapshotNotFound, exitUsage},
	{browse.ErrPathNotFound, exitUsage},
	{browse.ErrBadTime, exitUsage},
	{prune.ErrUnknownDevice, exitUsage},
	{mount.ErrMountpoint, exitUsage},
	{mount.ErrNoFUSE, exitUsage},
	{instance.ErrNoKey, exitUsage},
	{instance.ErrOtherKey, exitUsage},
	{errOtherInstallation, exitUsage},
	// After errOtherInstallation: a backup refused for both says the
	// daemon answering is another installation's, the graver mistake.
	{store.ErrLocked, exitStateInUse},
	{remotes.ErrBadRemote, exitUsage},
	{remotes.ErrUnreachable, exitUnreachable},
	{service.ErrNoServiceManager, exitUsage},
	{client.ErrNoDaemon, exitUnreachable},
	{client.ErrNoAnswer, exitUnreachable},
	{client.ErrOffline, exitUnreachable},
	// Before a wrong password: the one that spent the last attempt is
	// both, and the erasure is what the user must act on.
	{vault.ErrErased, exitKeyErased},
	// Too few of the key's share holders are still vault members: the
	// password no longer opens the key, as after an erasure (restore with
	// the recovery key); no retry helps.
	{vault.ErrHoldersGone, exitKeyErased},
	{vault.ErrWrongPassword, exitWrongKey},
	{vault.ErrAttemptSpent, exitAttemptSpent},
	// A certificate the client refused also matches ErrUnreachable, but
	// no retry helps: --vault-ca or the URL must change.
	{vault.ErrCertificate, exitUsage},
	{vault.ErrUnreachable, exitUnreachable},
	{backup.ErrIncomplete, exitIncomplete},
	// The vault asks to wait (its rate limits, the delay after wrong
	// passwords): a retry later succeeds, as with an unreachable vault;
	// the message says how long.
	{vault.ErrTooSoon, exitUnreachable},
	{vault.ErrRateLimited, exitUnreachable},
	{statusui.ErrNoToken, exitUnreachable},
}

// apiClasses are the status API's error classes, by the exit code each
// stands for: the daemon answers with the class of its error (errorClass),
// and a command the daemon ran for the CLI exits with that class's code.
var apiClasses = map[int]string{
	exitFailure:      statusapi.ClassFailure,
	exitUsage:        statusapi.ClassUsage,
	exitWrongKey:     statusapi.ClassWrongKey,
	exitKeyErased:    statusapi.ClassKeyErased,
	exitUnreachable:  statusapi.ClassUnreachable,
	exitIntegrity:    statusapi.ClassIntegrity,
	exitTakenOver:    statusapi.ClassTakenOver,
	exitIncomplete:   statusapi.ClassIncomplete,
	exitPartial:      statusapi.ClassPartial,
	exitAttemptSpent: statusapi.ClassAttemptSpent,
	exitStateInUse:   statusapi.ClassStateInUse,
}

// errorClass is the class the daemon's API gives err.
func errorClass(err error) string { return apiClasses[exitCode(err)] }

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	// First: whatever a command stopped with after a signal, the signal
	// stopped it.
	var ie *interruptedError
	if errors.As(err, &ie) {
		return ie.exitCode()
	}
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	for _, m := range exitMappings {
		if errors.Is(err, m.target) {
			return m.code
		}
	}
	// An error the daemon answered with, by its class (one this chatsafe
	// does not know is an other failure).
	if class := statusapi.ClassOf(err); class != "" {
		for code, c := range apiClasses {
			if c == class {
				return code
			}
		}
	}
	// cobra's own flag and argument errors are usage errors.
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown command", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "required flag"} {
		if strings.Contains(msg, p) {
			return exitUsage
		}
	}
	return exitFailure
}
