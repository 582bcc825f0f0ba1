package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestNoRepositoryAtRemoteSaysCheckThePath: on a new device, `restore`,
// `snapshots` and `check` given a remote that holds no repository (a
// drive not mounted, a folder moved, a typo) exit 2 saying that no
// repository is there and to check the path. They must not tell the user
// to run `chatsafe init`: at a mount point that would make a new, empty
// repository where the backup should be.
func TestNoRepositoryAtRemoteSaysCheckThePath(t *testing.T) {
	s := newSetup(t)
	missing := filepath.Join(t.TempDir(), "usb-drive", "chatsafe")
	for _, args := range [][]string{
		{"restore", "--remote", missing, "--recovery-key-file", s.keyFile, "--to", filepath.Join(t.TempDir(), "out")},
		{"snapshots", "--remote", missing, "--recovery-key-file", s.keyFile},
		{"check", "--remote", missing, "--recovery-key-file", s.keyFile},
	} {
		t.Run(args[0], func(t *testing.T) {
			r := run(t, t.TempDir(), args...)
			r.want(t, exitUsage, "no chatsafe repository at this remote")
			if strings.Contains(r.stderr, "chatsafe init") {
				t.Errorf("%s on a remote with no repository suggests init:\n%s", args[0], r.stderr)
			}
			for _, want := range []string{"mounted", "moved", "typo"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("%s on a remote with no repository does not say %q:\n%s", args[0], want, r.stderr)
				}
			}
		})
	}
}
