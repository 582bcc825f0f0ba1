package daemon_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusapi/client"
)

func idle(st statusapi.Status) bool {
	if st.State != statusapi.StateIdle || st.PendingDeltas != 0 {
		return false
	}
	for _, r := range st.Remotes {
		if r.Queued != 0 {
			return false
		}
	}
	return true
}

// TestBackupAndRestore runs the real daemon on a directory that a real
// writer changes: a new snapshot is committed, reaches every remote, and
// restores to what the directory holds.
func TestBackupAndRestore(t *testing.T) {
	in := newInstall(t, 2)
	chat := openChat(t, in.src)
	chat.write(t, 100)
	if err := os.WriteFile(filepath.Join(in.src, "Media", "IMG-1.jpg"), []byte(strings.Repeat("jpeg", 5000)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startDaemon(t, nil, nil, "--config", in.cfgPath)
	first := waitStatus(t, p, in.sock, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	if first.KeySource != "cache" || first.Source != in.src || len(first.Remotes) != 2 || first.Remotes[1].LastUpload == nil {
		t.Fatalf("status: %+v", first)
	}

	// A second daemon for the same installation is refused, clearly.
	second := exec.Command(binary, "daemon", "--config", in.cfgPath)
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already running") {
		t.Fatalf("second daemon: %v: %s", err, out)
	}

	// The app commits messages and a new media file appears.
	chat.write(t, 25)
	if err := os.WriteFile(filepath.Join(in.src, "Media", "VID-2.mp4"), []byte(strings.Repeat("mp4!", 20000)), 0o644); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, p, in.sock, "a new snapshot from the watcher", func(st statusapi.Status) bool {
		return st.LastSnapshot.Seq > first.LastSnapshot.Seq && idle(st)
	})
	// Writes may have been split across cycles: one more, asked over the
	// socket, makes sure the newest state is committed.
	c := client.New(in.sock)
	defer c.Close()
	res, err := c.Backup(t.Context(), statusapi.BackupRequest{})
	if err != nil || res.Snapshot == nil {
		t.Fatalf("backup through the socket: %+v, %v", res, err)
	}
	waitStatus(t, p, in.sock, "uploads", idle)
	snaps, err := c.Snapshots(t.Context())
	if err != nil || len(snaps) < 2 || snaps[len(snaps)-1].ID != res.Snapshot.ID {
		t.Fatalf("snapshots: %+v, %v (status %+v)", snaps, err, st)
	}
	for _, r := range in.remotes {
		sameTree(t, in.src, restoreFrom(t, r, in.key))
	}
	// Prometheus metrics count what happened.
	m, err := c.Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`chatsafe_backups_total{result="committed"}`, `chatsafe_uploaded_bytes_total{remote="r1"}`, "chatsafe_pending_deltas 0", "chatsafe_delta_size_bytes_count", "chatsafe_last_success_timestamp_seconds"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// `chatsafe status` prints a summary and the JSON document.
	human, err := exec.Command(binary, "status", "--config", in.cfgPath).CombinedOutput()
	if err != nil || !strings.Contains(string(human), "idle") || !strings.Contains(string(human), res.Snapshot.ShortID) || !strings.Contains(string(human), "up to date") {
		t.Fatalf("status: %v\n%s", err, human)
	}
	// `chatsafe backup` asks the daemon instead of fighting over the state.
	chat.write(t, 1)
	bk, err := exec.Command(binary, "backup", "--config", in.cfgPath).CombinedOutput()
	if err != nil || !strings.Contains(string(bk), "daemon") {
		t.Fatalf("backup beside the daemon: %v\n%s", err, bk)
	}
	// Asked again with nothing changed, it still says the daemon ran it
	// (the watcher may also have committed the write above first).
	bk, err = exec.Command(binary, "backup", "--config", in.cfgPath).CombinedOutput()
	if err != nil || !strings.Contains(string(bk), "nothing changed") || !strings.Contains(string(bk), "daemon") {
		t.Fatalf("backup beside the daemon, nothing changed: %v\n%s", err, bk)
	}
	// `chatsafe snapshots --json` works beside it.
	sj, err := exec.Command(binary, "snapshots", "--json", "--config", in.cfgPath).Output()
	if err != nil || !strings.Contains(string(sj), res.Snapshot.ID) {
		t.Fatalf("snapshots beside the daemon: %v\n%s", err, sj)
	}
	code, took := p.stop(t)
	if code != 0 || took > 10*time.Second {
		t.Fatalf("SIGTERM: exit %d after %s", code, took)
	}
	if _, err := os.Stat(in.sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left behind: %v", err)
	}
}

// TestSIGTERMDuringUpload stops the daemon while uploads are slow: it
// exits 0 within 10 s, the delta waits in the spool, and the next run
// uploads it once.
func TestSIGTERMDuringUpload(t *testing.T) {
	in := newInstall(t, 2)
	chat := openChat(t, in.src)
	chat.write(t, 200)
	p := startDaemon(t, nil, nil, "--config", in.cfgPath, "--test-upload-latency", "3s")
	waitStatus(t, p, in.sock, "an upload in progress", func(st statusapi.Status) bool {
		return st.State == statusapi.StateUploading && st.PendingDeltas > 0
	})
	code, took := p.stop(t)
	if code != 0 || took > 10*time.Second {
		t.Fatalf("SIGTERM during upload: exit %d after %s\n%s", code, took, p.errOut.String())
	}
	if len(spoolFiles(t, in.state)) == 0 {
		t.Fatal("the spooled delta was lost on shutdown")
	}

	chat.write(t, 10)
	p2 := startDaemon(t, nil, nil, "--config", in.cfgPath)
	waitStatus(t, p2, in.sock, "the spool to drain", func(st statusapi.Status) bool {
		return st.LastSnapshot != nil && st.LastSnapshot.Seq >= 2 && idle(st)
	})
	if n := len(spoolFiles(t, in.state)); n != 0 {
		t.Fatalf("%d deltas still spooled", n)
	}
	if code, _ := p2.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, r := range in.remotes {
		seqs := deltaSeqs(t, r)
		seen := map[string]bool{}
		for _, s := range seqs {
			if seen[s] {
				t.Fatalf("%s holds two deltas with sequence %s: %v", r, s, seqs)
			}
			seen[s] = true
		}
		if len(seqs) < 2 {
			t.Fatalf("%s holds %d deltas, want both runs' deltas", r, len(seqs))
		}
		sameTree(t, in.src, restoreFrom(t, r, in.key))
	}
}

// TestSocketRefusals: a client of another uid cannot use the daemon, nor
// can a request that carries an Origin header.
func TestSocketRefusals(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test must run as root (it runs a client as uid 65534)")
	}
	in := newInstall(t, 1)
	p := startDaemon(t, nil, nil, "--config", in.cfgPath)
	waitStatus(t, p, in.sock, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil })
	for _, d := range []string{in.dir, filepath.Dir(in.sock)} {
		if fi, err := os.Stat(d); err != nil || (d == filepath.Dir(in.sock) && fi.Mode().Perm() != 0o700) {
			t.Fatalf("%s: %v %v", d, fi.Mode(), err)
		}
	}
	if fi, err := os.Stat(in.sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi, err)
	}
	// Let uid 65534 reach the test binary and the socket's parent.
	os.Chmod(in.dir, 0o755)
	self, _ := os.Executable()
	exe := filepath.Join(filepath.Dir(binary), "daemon.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), exe)
	cmd.Env = append(os.Environ(), childEnv+"="+in.sock)
	runAs(cmd, &credential{Uid: 65534, Gid: 65534})
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "REFUSED:") {
		t.Fatalf("uid 65534: %v: %s", err, out)
	}

	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", in.sock)
	}}}
	req, _ := http.NewRequest(http.MethodPost, "http://localhost/v1/backup", nil)
	req.Header.Set("Origin", "http://localhost:8080")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("request with Origin: %s", resp.Status)
	}
}

// TestStatusWithoutDaemon: exit 5 and a message that says what to do.
func TestStatusWithoutDaemon(t *testing.T) {
	in := newInstall(t, 1)
	cmd := exec.Command(binary, "status", "--config", in.cfgPath)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 5 || !strings.Contains(string(out), "start it with `chatsafe daemon --config "+in.cfgPath+"`") {
		t.Fatalf("status without a daemon: %v\n%s", err, out)
	}
}

var recoveryKeyRE = regexp.MustCompile(`\b[0-9A-F]{4}(-[0-9A-F]{4}){15}\b`)

// TestEmbeddedDefaults runs `chatsafe daemon --source DIR` with no config,
// as an ordinary user whose HOME and XDG dirs are temp dirs.
func TestEmbeddedDefaults(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test must run as root (it runs the daemon as uid 65534)")
	}
	_, src, xdg, env := unprivilegedHome(t)
	nobody := &credential{Uid: 65534, Gid: 65534}
	sock := filepath.Join(xdg["XDG_RUNTIME_DIR"], "chatsafe", "chatsafe.sock")

	p := startDaemon(t, env, nobody, "--source", src)
	st := waitStatus(t, p, sock, "the first snapshot on defaults", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	if len(st.Remotes) != 1 || st.Remotes[0].Name != "local" {
		t.Fatalf("remotes: %+v", st.Remotes)
	}
	// The status says where the remote is, not its name a second time
	// (`chatsafe status` printed "local  local").
	if want := filepath.Join(xdg["XDG_DATA_HOME"], "chatsafe", "remote"); st.Remotes[0].Remote != want {
		t.Errorf("the remote is described as %q, want its place %q", st.Remotes[0].Remote, want)
	}
	if code, _ := p.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	shown := recoveryKeyRE.FindAllString(p.out.String(), -1)
	if len(shown) != 1 {
		t.Fatalf("recovery key shown %d times on stdout:\n%s", len(shown), p.out.String())
	}
	if strings.Contains(p.errOut.String(), shown[0]) || strings.Contains(p.errOut.String(), strings.ReplaceAll(shown[0], "-", "")) {
		t.Fatal("the recovery key reached the log")
	}
	keyFile := filepath.Join(xdg["XDG_CONFIG_HOME"], "chatsafe", "recovery-key.txt")
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("recovery key file: %v %v", fi, err)
	}
	b, _ := os.ReadFile(keyFile)
	key, err := crypt.ParseRecoveryKey(string(b))
	if err != nil || key.RecoveryKey() != shown[0] {
		t.Fatalf("recovery key file does not hold the key shown: %v", err)
	}
	for _, f := range []string{filepath.Join(xdg["XDG_CONFIG_HOME"], "chatsafe", "config.yaml"), filepath.Join(xdg["XDG_STATE_HOME"], "chatsafe", "key")} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("missing %s: %v", f, err)
		}
	}
	sameTree(t, src, restoreFrom(t, filepath.Join(xdg["XDG_DATA_HOME"], "chatsafe", "remote"), key))

	// The next start uses the config it made and shows no key.
	p2 := startDaemon(t, env, nobody)
	waitStatus(t, p2, sock, "the restarted daemon", idle)
	if code, _ := p2.stop(t); code != 0 || recoveryKeyRE.MatchString(p2.out.String()) {
		t.Fatalf("restart: exit %d, stdout %q", code, p2.out.String())
	}
}
