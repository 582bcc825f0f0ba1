package daemon

import (
	"errors"
	"fmt"
)

// A full disk under the state directory (the spool, the repository's
// state, the device id) is for the person to fix, and fixes itself for
// the daemon once they have: it says so, in the words of what to do, and
// retries; at start-up too, where it does not exit (a service manager
// would restart it every few seconds into the same full disk) but waits
// in "error", as it waits "offline" for a remote out of reach.

// stateDiskFullError is a write under the state directory that failed
// for want of space.
type stateDiskFullError struct {
	dir string
	err error
}

func (e *stateDiskFullError) Error() string {
	return fmt.Sprintf("no space left on the device holding the state directory %s: free some space; backups resume by themselves (%v)", e.dir, e.err)
}

func (e *stateDiskFullError) Unwrap() error { return e.err }

// withDiskFull gives err the words of a full state disk when it is one
// (stateDir: the installation's); any other error is returned as is.
func withDiskFull(err error, stateDir string) error {
	var already *stateDiskFullError
	if err == nil || !noSpace(err) || errors.As(err, &already) {
		return err
	}
	return &stateDiskFullError{dir: stateDir, err: err}
}

// isDiskFull reports whether err is a full state disk (withDiskFull).
func isDiskFull(err error) bool {
	var e *stateDiskFullError
	return errors.As(err, &e)
}
