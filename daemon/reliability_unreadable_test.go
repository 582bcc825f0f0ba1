//go:build linux

package daemon_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/statusapi"
)

// TestUnreadableKeptAndReported: the daemon runs as an ordinary user
// (uid 65534) and the database and a subdirectory become unreadable to
// it. The next snapshot keeps their previous versions and records them
// as incomplete, and the status says which paths and why.
func TestUnreadableKeptAndReported(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test must run as root (it runs the daemon as uid 65534)")
	}
	home, src, sock, env, p := startUnprivileged(t)
	first := waitStatus(t, p, sock, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })

	if err := os.Chmod(filepath.Join(src, "msgstore.db"), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "Media"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(src, "Media"), 0o755) })
	if err := os.WriteFile(filepath.Join(src, "note.txt"), []byte("a change"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, p, sock, "a snapshot with the unreadable paths", func(st statusapi.Status) bool {
		// The watcher may cut the three changes into more than one cycle.
		return st.LastSnapshot != nil && st.LastSnapshot.Seq > first.LastSnapshot.Seq && len(st.LastSnapshot.Incomplete) == 2 &&
			st.LastSnapshot.Files == first.LastSnapshot.Files+1
	})
	got := map[string]string{}
	for _, o := range st.LastSnapshot.Incomplete {
		got[o.Path] = o.Reason
	}
	for _, want := range []string{"msgstore.db", "Media"} {
		if !strings.Contains(got[want], "permission denied") {
			t.Errorf("snapshot's incomplete paths %v: want %s with its reason", st.LastSnapshot.Incomplete, want)
		}
	}
	if st.LastSnapshot.Files != first.LastSnapshot.Files+1 {
		t.Errorf("snapshot has %d files, want the %d of the first plus note.txt (unreadable ones keep their previous versions)", st.LastSnapshot.Files, first.LastSnapshot.Files)
	}
	// The CLI says so too: `backup` exits 8 naming the paths, and
	// `snapshots --json` lists them.
	for _, args := range [][]string{{"backup"}, {"snapshots", "--json"}, {"status"}} {
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), env...)
		runAs(cmd, &credential{Uid: 65534, Gid: 65534})
		out, err := cmd.CombinedOutput()
		want := 0
		if args[0] == "backup" {
			want = 8
		}
		if cmd.ProcessState.ExitCode() != want || !strings.Contains(string(out), "msgstore.db") || !strings.Contains(string(out), "permission denied") {
			t.Errorf("chatsafe %v: exit %d (want %d), %v:\n%s", args, cmd.ProcessState.ExitCode(), want, err, out)
		}
	}

	// A source that cannot be read at all is an error, retried by itself
	// until it can be read again.
	if err := os.Chmod(src, 0); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "backup")
	cmd.Env = append(os.Environ(), env...)
	runAs(cmd, &credential{Uid: 65534, Gid: 65534})
	if out, _ := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "permission denied") {
		t.Errorf("backup of an unreadable source: exit %d:\n%s", cmd.ProcessState.ExitCode(), out)
	}
	waitStatus(t, p, sock, "the error state", func(st statusapi.Status) bool {
		return st.State == statusapi.StateError && strings.Contains(st.LastError, "permission denied")
	})
	os.Chmod(src, 0o755)
	waitStatus(t, p, sock, "the retried cycle", func(st statusapi.Status) bool { return idle(st) && st.LastError == "" })
	if code, _ := p.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	// The restored snapshot holds the previous database and Media/a.jpg.
	key, err := crypt.ParseRecoveryKey(recoveryKeyRE.FindString(p.out.String()))
	if err != nil {
		t.Fatalf("recovery key on stdout: %v", err)
	}
	out := restoreFrom(t, filepath.Join(home, "xdg_data_home", "chatsafe", "remote"), key)
	for _, f := range []string{"msgstore.db", "Media/a.jpg", "note.txt"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("restored snapshot: %v", err)
		}
	}
}

// startUnprivileged starts the daemon as uid 65534 on the chats of a new
// unprivilegedHome. It returns the home, the source, the status socket,
// the environment the daemon runs with and the daemon.
func startUnprivileged(t *testing.T) (home, src, sock string, env []string, p *proc) {
	t.Helper()
	home, src, xdg, env := unprivilegedHome(t)
	sock = filepath.Join(xdg["XDG_RUNTIME_DIR"], "chatsafe", "chatsafe.sock")
	p = startDaemon(t, env, &credential{Uid: 65534, Gid: 65534}, "--source", src)
	return home, src, sock, env, p
}
