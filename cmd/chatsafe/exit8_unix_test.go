//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// reachExit8 runs the real binary as uid 65534, for whom a file can be
// unreadable (root reads everything): the backup after chmod 000 on one
// file is saved but incomplete, exit 8 naming the file and the reason.
func reachExit8(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this case must run as root (it runs chatsafe as uid 65534)")
	}
	bin := chatsafeBinary(t)
	// The binary's directory and a base for the installation that the
	// other user can reach.
	os.Chmod(filepath.Dir(bin), 0o755)
	base, err := os.MkdirTemp("", "chatsafe-exit8-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	src := filepath.Join(base, "chats")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("readable"), 0o644)
	os.WriteFile(filepath.Join(src, "b.txt"), []byte("soon unreadable"), 0o644)
	filepath.Walk(base, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 65534, 65534) })
	cfg := filepath.Join(base, "c.yaml")
	as := func(args ...string) result {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "HOME="+base)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, _ := cmd.CombinedOutput()
		return result{cmd.ProcessState.ExitCode(), string(out), ""}
	}
	as("init", "--source", src, "--remote", filepath.Join(base, "remote"), "--config", cfg,
		"--state-dir", filepath.Join(base, "state"), "--recovery-key-out", filepath.Join(base, "rk")).want(t, 0, "recovery key")
	as("backup", "--config", cfg).want(t, 0, "saved")
	if err := os.Chmod(filepath.Join(src, "b.txt"), 0); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("changed"), 0o644)
	r := as("backup", "--config", cfg)
	r.want(t, 8, "b.txt")
	r.want(t, 8, "permission denied")
}
