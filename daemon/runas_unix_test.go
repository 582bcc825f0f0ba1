//go:build unix

package daemon_test

import (
	"os/exec"
	"syscall"
)

// credential is the user a test runs a process as.
type credential = syscall.Credential

// runAs makes cmd run as cred; nil keeps this process's user.
func runAs(cmd *exec.Cmd, cred *credential) {
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
}
