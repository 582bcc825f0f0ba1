package daemon_test

import (
	"errors"
	"os/exec"
)

// credential is the user a test runs a process as. Windows has no uids:
// the tests that switch users are Unix's and fail here.
type credential struct{ Uid, Gid uint32 }

// runAs makes starting cmd fail when cred asks for another user, rather
// than run it as the wrong one.
func runAs(cmd *exec.Cmd, cred *credential) {
	if cred != nil {
		cmd.Err = errors.New("running a process as another user is not supported on Windows")
	}
}
