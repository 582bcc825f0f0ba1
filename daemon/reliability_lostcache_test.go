//go:build linux

package daemon_test

import (
	"os"
	"testing"

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
	latePath, second := addLate(t, p, sock, src, first, late)
	key := stopForKey(t, p)
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
	waitLateKept(t, p, sock, second)
	if code, _ := p.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	checkLateRestored(t, home, key, late)
}
