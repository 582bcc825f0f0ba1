package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/statusapi"
)

// TestStatusOfOfflineDaemon: a daemon started while its first remote is
// out of reach runs offline. `status` on its config shows that (the
// daemon cannot name its repository yet, but it runs this config), and
// `backup` exits 5 saying so rather than taking the daemon for another
// installation's.
func TestStatusOfOfflineDaemon(t *testing.T) {
	_, home, _, cfg := offlineInstall(t, false)

	startDaemonBinary(t, home, cfg, filepath.Join(home, "inst", "state", "chatsafe.sock"))
	// The first try to open may still be under way ("starting").
	r := run(t, home, "status", "--config", cfg)
	if r.code != 0 || !(strings.Contains(r.stdout, ": starting") || strings.Contains(r.stdout, ": offline")) {
		t.Fatalf("status of the offline daemon: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	run(t, home, "backup", "--config", cfg).want(t, 5, "offline")
	r = run(t, home, "status", "--config", cfg)
	r.want(t, 0, "cannot open the repository")
	if !strings.Contains(r.stdout, ": offline") || !strings.Contains(r.stdout, "unreachable, trying again at") {
		t.Fatalf("status of the offline daemon:\n%s", r.stdout)
	}
}

// TestStatusOfDaemonBackingUpOffline: a daemon that backed up before
// starts while its only remote is out of reach: it opens the repository
// from its state directory, `backup` saves the snapshot into the spool and
// exits 5 once the daemon found the remote out of reach (as the backup
// does with no daemon), and `status` says how many snapshots wait to
// upload.
func TestStatusOfDaemonBackingUpOffline(t *testing.T) {
	_, home, src, cfg := offlineInstall(t, true)

	sock := filepath.Join(home, "inst", "state", "chatsafe.sock")
	startDaemonBinary(t, home, cfg, sock)
	// Opened from the state, and its uploader found the remote out of
	// reach (a remote line's error sets no new state: polled, not heard).
	waitStatus(t, sock, nil, func(st statusapi.Status) bool {
		return st.RepositoryID != "" && st.Offline != nil && len(st.Remotes) == 1 && st.Remotes[0].LastError != ""
	}, func(st statusapi.Status, err error) string {
		return fmt.Sprintf("waiting for the daemon to open from its state and find the remote out of reach: %+v, %v", st, err)
	}, nil)
	write(t, src, "msgstore.txt", "hello, offline")
	run(t, home, "backup", "--config", cfg).want(t, exitUnreachable, savedLocally)
	r := run(t, home, "status", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, ": offline") || !regexp.MustCompile(`offline: +[1-9][0-9]* snapshots? waiting to upload`).MatchString(r.stdout) {
		t.Fatalf("status of the daemon backing up offline: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, home, "status", "--json", "--config", cfg)
	if !strings.Contains(r.stdout, `"offline": {`) || !strings.Contains(r.stdout, `"from_state": true`) {
		t.Fatalf("status --json of the daemon backing up offline:\n%s", r.stdout)
	}
}

// TestLocalBackupOffline: with no daemon, `backup` while the only remote
// is out of reach saves the snapshot in the spool from the state an
// earlier backup left, and exits 5 (not uploaded); once the remote is
// back the next backup uploads it.
func TestLocalBackupOffline(t *testing.T) {
	srv, home, src, cfg := offlineInstall(t, true)
	write(t, src, "msgstore.txt", "hello, offline")
	run(t, home, "backup", "--config", cfg).want(t, 5, "saved locally")
	spool, err := filepath.Glob(filepath.Join(home, "inst", "state", "repo-*", "spool", "*"))
	if err != nil || len(spool) != 1 {
		t.Fatalf("the spool after the offline backup: %v %v", spool, err)
	}
	srv.Start()
	run(t, home, "backup", "--config", cfg).want(t, 0, "")
	if spool, _ = filepath.Glob(filepath.Join(home, "inst", "state", "repo-*", "spool", "*")); len(spool) != 0 {
		t.Fatalf("still spooled once the remote is back: %v", spool)
	}
}

// offlineInstall makes an installation of a one-file chat directory on a
// WebDAV remote, backs it up once if backedUp (the state a daemon opens
// from offline), makes a first try to open give up soon (retry_for 1s),
// and stops the remote.
func offlineInstall(t *testing.T, backedUp bool) (srv *remotetest.Server, home, src, cfg string) {
	t.Helper()
	srv = remotetest.StartWebDAV(t, t.TempDir())
	home = t.TempDir()
	src = filepath.Join(home, "chats")
	os.MkdirAll(src, 0o755)
	write(t, src, "msgstore.txt", "hello")
	cfg = filepath.Join(home, "inst", "chatsafe.yaml")
	run(t, home, "init", "--source", src, "--remote", srv.Spec, "--config", cfg).want(t, 0, "recovery key")
	if backedUp {
		run(t, home, "backup", "--config", cfg).want(t, 0, "")
	}
	shortRetry(t, cfg)
	srv.Stop()
	return srv, home, src, cfg
}

// shortRetry sets retry_for in the config file cfg to 1s: a remote out
// of reach fails a command soon.
func shortRetry(t *testing.T, cfg string) {
	t.Helper()
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = regexp.MustCompile(`(?m)^retry_for: .*$`).ReplaceAll(b, []byte("retry_for: 1s"))
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
