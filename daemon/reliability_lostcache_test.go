//go:build linux

package daemon_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/statusapi"
)

// TestLostFileCacheKeepsUnreadableFile: a file is backed up, the file
// cache on disk is lost (a crash before its write, or a damaged one), and
// the file becomes unreadable before the daemon starts again. The next
// snapshot keeps the version the last snapshot stored, from that
// snapshot's tree, as it does for an unreadable directory.
func TestLostFileCacheKeepsUnreadableFile(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test must run as root (it runs the daemon as uid 65534)")
	}
	home, src, sock, env, p := startUnprivileged(t)
	first := waitStatus(t, p, sock, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	late := []byte("a photo the lost file cache never knew")
	latePath := filepath.Join(src, "Media", "late.jpg")
	if err := os.WriteFile(latePath, late, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Lchown(latePath, 65534, 65534)
	second := waitStatus(t, p, sock, "the snapshot with late.jpg", func(st statusapi.Status) bool {
		return st.LastSnapshot != nil && st.LastSnapshot.Files == first.LastSnapshot.Files+1 && idle(st)
	})
	if code, _ := p.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	key, err := crypt.ParseRecoveryKey(recoveryKeyRE.FindString(p.out.String()))
	if err != nil {
		t.Fatalf("recovery key on stdout: %v", err)
	}
	cache := fileCacheUnder(home)
	if cache == "" {
		t.Fatal("no file cache on disk after the daemon stopped")
	}
	if err := os.Remove(cache); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(latePath, 0); err != nil {
		t.Fatal(err)
	}

	p = startDaemon(t, env, &credential{Uid: 65534, Gid: 65534}, "--source", src)
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
	if code, _ := p.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	out := restoreFrom(t, filepath.Join(home, "xdg_data_home", "chatsafe", "remote"), key)
	got, err := os.ReadFile(filepath.Join(out, "Media", "late.jpg"))
	if err != nil {
		t.Fatalf("the last snapshot lost late.jpg, though the one before stored it: %v", err)
	}
	if !bytes.Equal(got, late) {
		t.Fatalf("restored late.jpg is %q, want %q", got, late)
	}
}
