//go:build linux

package daemon_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/statusapi"
)

// TestFailedCycleKeepsCommittedFiles: a file is backed up by a cycle after
// the run's first write of the file cache (the next is minutes away), a
// cycle then fails, and the file becomes unreadable. The next snapshot
// must keep the version the committed cycle stored: the failed cycle must
// not take the file cache back to its copy on disk, which never knew the
// file.
func TestFailedCycleKeepsCommittedFiles(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test must run as root (it runs the daemon as uid 65534)")
	}
	home, src, sock, env, p := startUnprivileged(t)
	first := waitStatus(t, p, sock, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	// The run's first write of the file cache follows its first cycle; the
	// next comes five minutes after the second.
	waitStatus(t, p, sock, "the file cache on disk", func(statusapi.Status) bool { return fileCacheUnder(home) != "" })

	late := []byte("a photo backed up after the file cache was written")
	latePath, second := addLate(t, p, sock, src, first, late)

	// A cycle fails: the source cannot be listed. Taking its permissions
	// away is no change the watcher reports, so the cycle is asked for.
	// (Until 2026-12-07 one came by itself: the daemon's own read of the
	// database, which the app had closed, started the next cycle.)
	if err := os.Chmod(src, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(src, 0o755) })
	backup := exec.Command(binary, "backup")
	backup.Env = append(os.Environ(), env...)
	runAs(backup, &credential{Uid: 65534, Gid: 65534})
	if out, _ := backup.CombinedOutput(); backup.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "permission denied") {
		t.Fatalf("backup of an unreadable source: exit %d:\n%s", backup.ProcessState.ExitCode(), out)
	}
	waitStatus(t, p, sock, "the failed cycle", func(st statusapi.Status) bool {
		return st.State == statusapi.StateError && strings.Contains(st.LastError, "permission denied")
	})
	if err := os.Chmod(latePath, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(src, 0o755); err != nil {
		t.Fatal(err)
	}
	waitLateKept(t, p, sock, second)
	key := stopForKey(t, p)
	checkLateRestored(t, home, key, late)
}

// addLate writes Media/late.jpg (owned by the daemon's uid 65534) into
// src and waits for the snapshot after first that holds it.
func addLate(t *testing.T, p *proc, sock, src string, first statusapi.Status, late []byte) (string, statusapi.Status) {
	t.Helper()
	latePath := filepath.Join(src, "Media", "late.jpg")
	if err := os.WriteFile(latePath, late, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Lchown(latePath, 65534, 65534)
	second := waitStatus(t, p, sock, "the snapshot with late.jpg", func(st statusapi.Status) bool {
		return st.LastSnapshot != nil && st.LastSnapshot.Files == first.LastSnapshot.Files+1 && idle(st)
	})
	return latePath, second
}

// waitLateKept waits for a snapshot after second with Media/late.jpg
// unreadable, and checks that it is its one incomplete path and kept its
// version: the files and bytes of second, which stored it.
func waitLateKept(t *testing.T, p *proc, sock string, second statusapi.Status) {
	t.Helper()
	st := waitStatus(t, p, sock, "a snapshot with late.jpg unreadable", func(st statusapi.Status) bool {
		return st.LastSnapshot != nil && st.LastSnapshot.Seq > second.LastSnapshot.Seq && len(st.LastSnapshot.Incomplete) == 1 && idle(st)
	})
	if o := st.LastSnapshot.Incomplete[0]; o.Path != "Media/late.jpg" {
		t.Fatalf("incomplete %+v, want Media/late.jpg", o)
	}
	if st.LastSnapshot.Files != second.LastSnapshot.Files || st.LastSnapshot.Bytes != second.LastSnapshot.Bytes {
		t.Errorf("snapshot has %d files, %d bytes, want the %d, %d of the one before (late.jpg keeps its version)",
			st.LastSnapshot.Files, st.LastSnapshot.Bytes, second.LastSnapshot.Files, second.LastSnapshot.Bytes)
	}
}

// stopForKey stops the daemon p, which must exit 0, and returns the
// recovery key it printed when it made the installation.
func stopForKey(t *testing.T, p *proc) crypt.Key {
	t.Helper()
	if code, _ := p.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	key, err := crypt.ParseRecoveryKey(recoveryKeyRE.FindString(p.out.String()))
	if err != nil {
		t.Fatalf("recovery key on stdout: %v", err)
	}
	return key
}

// checkLateRestored restores the last snapshot of the daemon whose HOME is
// home and checks that Media/late.jpg holds late.
func checkLateRestored(t *testing.T, home string, key crypt.Key, late []byte) {
	t.Helper()
	out := restoreFrom(t, filepath.Join(home, "xdg_data_home", "chatsafe", "remote"), key)
	got, err := os.ReadFile(filepath.Join(out, "Media", "late.jpg"))
	if err != nil {
		t.Fatalf("the last snapshot lost late.jpg, which the one before stored: %v", err)
	}
	if !bytes.Equal(got, late) {
		t.Fatalf("restored late.jpg is %q, want %q", got, late)
	}
}

// fileCacheUnder returns the path of the file cache a daemon whose HOME
// is home wrote ("": none yet).
func fileCacheUnder(home string) string {
	found := ""
	filepath.WalkDir(home, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && e.Name() == "filecache" {
			found = p
		}
		return nil
	})
	return found
}
