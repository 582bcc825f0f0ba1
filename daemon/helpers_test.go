package daemon_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/internal/installguard"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusapi/client"
	"github.com/chatsafe/chatsafe/store"
)

// binary is the real chatsafe, built once by TestMain into a directory
// every user may read (one test runs it as uid 65534).
var binary string

// childEnv turns the test binary into a status client (run as another uid).
const childEnv = "CHATSAFE_DAEMON_TEST_CLIENT_SOCKET"

func TestMain(m *testing.M) {
	if sock := os.Getenv(childEnv); sock != "" {
		_, err := client.New(sock).Status(context.Background())
		if err == nil {
			fmt.Println("ALLOWED")
		} else {
			fmt.Println("REFUSED:", err)
		}
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "chatsafe-daemon-test-")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755)
	binary = filepath.Join(dir, "chatsafe")
	build := exec.Command("go", "build", "-tags", "chatsafe_testhooks", "-o", binary, "../cmd/chatsafe")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building chatsafe:", err)
		os.Exit(1)
	}
	code := installguard.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// install is a chatsafe installation in a temp dir: a chat directory
// with a live WAL-mode SQLite database, two local remotes, a config.
type install struct {
	dir, src, state, cfgPath, sock string
	remotes                        []string
	key                            crypt.Key
}

// config loads in's config file.
func (in *install) config(t testing.TB) *configs.Config {
	t.Helper()
	cfg, err := configs.Load(in.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newInstall(t testing.TB, nRemotes int) *install {
	t.Helper()
	dir := t.TempDir()
	in := &install{dir: dir, src: filepath.Join(dir, "chats"), state: filepath.Join(dir, "state"),
		cfgPath: filepath.Join(dir, "chatsafe.yaml"), sock: filepath.Join(dir, "run", "chatsafe.sock")}
	if err := os.MkdirAll(filepath.Join(in.src, "Media"), 0o755); err != nil {
		t.Fatal(err)
	}
	var rs strings.Builder
	for i := range nRemotes {
		p := filepath.Join(dir, fmt.Sprintf("remote%d", i))
		in.remotes = append(in.remotes, p)
		fmt.Fprintf(&rs, "  - name: r%d\n    url: %s\n", i, p)
	}
	yaml := fmt.Sprintf("source: %s\nstate_dir: %s\nstatus_socket: %s\nremotes:\n%ssync:\n  quiet_period: 150ms\n  max_delay: 1s\nlog:\n  level: debug\n  format: json\n",
		in.src, in.state, in.sock, rs.String())
	cfg, err := configs.Parse(in.cfgPath, []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if in.key, err = crypt.NewKey(); err != nil {
		t.Fatal(err)
	}
	if err := instance.Create(context.Background(), cfg, in.cfgPath, in.key, nil); err != nil {
		t.Fatal(err)
	}
	return in
}

// chatDB is a messaging app writing to its WAL-mode database.
type chatDB struct {
	db   *sql.DB
	next int
}

func openChat(t testing.TB, src string) *chatDB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(src, "msgstore.db")+"?_pragma=journal_mode(wal)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS messages(id INTEGER PRIMARY KEY, chat TEXT, body TEXT)`); err != nil {
		t.Fatal(err)
	}
	c := &chatDB{db: db}
	t.Cleanup(func() { db.Close() })
	return c
}

func (c *chatDB) write(t testing.TB, n int) {
	t.Helper()
	tx, err := c.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		c.next++
		if _, err := tx.Exec(`INSERT INTO messages(id, chat, body) VALUES(?, ?, ?)`, c.next, "family", fmt.Sprintf("message %d %s", c.next, strings.Repeat("x", c.next%50))); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// proc is a running daemon.
type proc struct {
	cmd    *exec.Cmd
	out    *syncBuf
	errOut *syncBuf
	done   chan struct{}
	err    error
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startDaemon(t testing.TB, env []string, cred *credential, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"daemon"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, out: &syncBuf{}, errOut: &syncBuf{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.errOut
	runAs(cmd, cred)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("daemon stderr:\n%s", p.errOut.String())
		}
	})
	return p
}

// stop sends SIGTERM and returns the exit code and how long it took.
func (p *proc) stop(t testing.TB) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not stop within 20s")
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(start)
}

// waitStatus polls the daemon's socket until ok accepts its status. The
// daemon is a separate process, so polling with a deadline is the way.
func waitStatus(t testing.TB, p *proc, sock string, what string, ok func(statusapi.Status) bool) statusapi.Status {
	t.Helper()
	c := client.New(sock)
	defer c.Close()
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var last statusapi.Status
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := c.Status(ctx)
		cancel()
		if err == nil {
			last = st
			if ok(st) {
				return st
			}
		}
		lastErr = err
		select {
		case <-p.done:
			t.Fatalf("daemon exited (%v) while waiting for %s\nstderr:\n%s", p.err, what, p.errOut.String())
		case <-tick.C:
		}
	}
	t.Fatalf("timed out waiting for %s; last status %s, last error %v", what, statusJSON(last), lastErr)
	return last
}

// statusJSON shows a status in full for a failure message (%+v would
// print the snapshot as a pointer, hiding what the wait was about).
func statusJSON(st statusapi.Status) string {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Sprintf("%+v", st)
	}
	return string(b)
}

// restoreFrom restores the newest snapshot from one remote.
func restoreFrom(t testing.TB, remote string, key crypt.Key) string {
	t.Helper()
	ctx := context.Background()
	r, err := remotes.Open(ctx, remote, remotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rp, err := store.Open(ctx, r, key, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := restore.Run(ctx, rp, restore.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	return dst
}

// sameTree compares two trees: regular files byte for byte, except
// SQLite databases, compared by their messages (the live one may hold
// part of its content in its -wal, which a backup never copies).
func sameTree(t testing.TB, want, got string) {
	t.Helper()
	files := func(root string) map[string]string {
		m := map[string]string{}
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(root, p)
			if d.Type().IsRegular() && !strings.HasSuffix(p, "-wal") && !strings.HasSuffix(p, "-shm") {
				if strings.HasSuffix(p, ".db") {
					m[rel] = dbMessages(t, p)
				} else {
					b, _ := os.ReadFile(p)
					m[rel] = string(b)
				}
			}
			return nil
		})
		return m
	}
	w, g := files(want), files(got)
	if len(w) != len(g) {
		t.Fatalf("restored %d files, want %d", len(g), len(w))
	}
	for k, v := range w {
		if g[k] != v {
			t.Fatalf("%s differs after restore (%d vs %d bytes)", k, len(g[k]), len(v))
		}
	}
}

func dbMessages(t testing.TB, path string) string {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id, chat, body FROM messages ORDER BY id`)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id int
		var chat, body string
		if err := rows.Scan(&id, &chat, &body); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d|%s|%s\n", id, chat, body)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// deltaSeqs lists the sequence numbers of the delta objects on a local
// remote.
func deltaSeqs(t testing.TB, remote string) []string {
	ents, err := os.ReadDir(filepath.Join(remote, "deltas"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var seqs []string
	for _, e := range ents {
		if !e.IsDir() && len(e.Name()) > 16 {
			seqs = append(seqs, e.Name()[:16])
		}
	}
	return seqs
}

func spoolFiles(t testing.TB, state string) []string {
	m, err := filepath.Glob(filepath.Join(state, "repo-*", "spool", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// unprivilegedHome makes a home for uid 65534 under a new temporary
// directory, with a chat directory (a database of 20 messages and
// Media/a.jpg) at home/chats and the XDG directories inside home, all
// owned by that user. It returns the home, the source, the XDG
// directories by variable and the environment a daemon runs with there.
func unprivilegedHome(t *testing.T) (home, src string, xdg map[string]string, env []string) {
	t.Helper()
	base, err := os.MkdirTemp("", "chatsafe-unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	home = filepath.Join(base, "home")
	src = filepath.Join(home, "chats")
	if err := os.MkdirAll(filepath.Join(src, "Media"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "Media", "a.jpg"), []byte("photo"), 0o644)
	chat := openChat(t, src)
	chat.write(t, 20)
	chat.db.Close()
	xdg = map[string]string{}
	env = []string{"HOME=" + home}
	for _, k := range []string{"XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR"} {
		xdg[k] = filepath.Join(home, strings.ToLower(k))
		env = append(env, k+"="+xdg[k])
		os.MkdirAll(xdg[k], 0o700)
	}
	filepath.Walk(home, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 65534, 65534) })
	return home, src, xdg, env
}
