//go:build linux

package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMountUnmountsOnSIGTERM runs the real binary and stops it the way a
// service manager would.
func TestMountUnmountsOnSIGTERM(t *testing.T) {
	s := newSetup(t)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	dir := t.TempDir()
	cmd := exec.Command(chatsafeBinary(t), "mount", "--config", s.cfg, dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	t.Cleanup(func() {
		if !exited {
			cmd.Process.Kill()
			cmd.Wait()
			exec.Command("fusermount3", "-u", dir).Run()
		}
	})
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || !strings.Contains(lines.Text(), "mounted") {
		t.Fatalf("mount said %q; stderr: %s", lines.Text(), stderr.String())
	}
	if b, err := os.ReadFile(filepath.Join(dir, "latest", "settings.json")); err != nil || string(b) != `{"a":1}` {
		t.Errorf("settings.json through the mount: %q %v", b, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
	}
	err = cmd.Wait()
	exited = true
	if err != nil {
		t.Fatalf("mount after SIGTERM: %v; stderr: %s", err, stderr.String())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("still mounted after SIGTERM: %v", ents)
	}
}
