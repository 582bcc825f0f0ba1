package source

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a Visitor that stores everything it is given, like a consumer
// would, and records the order of calls.
type recorder struct {
	t testing.TB

	mu       sync.Mutex
	events   []string
	warns    map[string][]error
	contents map[string][]byte
	infos    map[string]FileInfo
	chunks   map[string][]int
	incomp   map[string]bool
	tokens   map[string][]byte
	files    int // File calls
	// onFile, if set, replaces the default read-everything behaviour.
	onFile func(info FileInfo, c Content) ([]byte, error)
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, warns: map[string][]error{}, contents: map[string][]byte{},
		infos: map[string]FileInfo{}, chunks: map[string][]int{}, incomp: map[string]bool{}, tokens: map[string][]byte{}}
}

// readAll drains c the way a consumer does.
func readAll(c Content) ([]byte, []int, error) {
	var buf bytes.Buffer
	var sizes []int
	for {
		ch, err := c.Next()
		if errors.Is(err, io.EOF) {
			return buf.Bytes(), sizes, nil
		}
		if err != nil {
			return nil, nil, err
		}
		buf.Write(ch.Data)
		sizes = append(sizes, len(ch.Data))
	}
}

func (r *recorder) File(info FileInfo, c Content) ([]byte, error) {
	r.mu.Lock()
	r.files++
	r.events = append(r.events, "file:"+info.Path)
	r.mu.Unlock()
	if r.onFile != nil {
		return r.onFile(info, c)
	}
	data, sizes, err := readAll(c)
	if err != nil {
		return nil, fmt.Errorf("consumer read: %w", err)
	}
	sum := sha256.Sum256(data)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.contents[info.Path] = data
	r.chunks[info.Path] = sizes
	r.infos[info.Path] = info
	r.incomp[info.Path] = c.Incompressible()
	r.tokens[info.Path] = sum[:]
	return sum[:], nil
}

func (r *recorder) Unchanged(info FileInfo, token []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "unchanged:"+info.Path)
	r.infos[info.Path] = info
	r.tokens[info.Path] = token
	return nil
}

func (r *recorder) Dir(info FileInfo) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "dir:"+info.Path)
	r.infos[info.Path] = info
	return nil
}

func (r *recorder) Symlink(info FileInfo) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "symlink:"+info.Path+"->"+info.LinkTarget)
	r.infos[info.Path] = info
	return nil
}

func (r *recorder) Warn(path string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "warn:"+path)
	r.warns[path] = append(r.warns[path], err)
}

// eventsWith returns the recorded events with the given prefix, in order.
func (r *recorder) eventsWith(prefix string) []string {
	var out []string
	for _, e := range r.events {
		if strings.HasPrefix(e, prefix) {
			out = append(out, strings.TrimPrefix(e, prefix))
		}
	}
	return out
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// future makes every file look long settled, so the racy-window rule does
// not force re-reads of files the test has just written.
func future(s *Scanner) { s.now = func() time.Time { return time.Now().Add(time.Hour) } }

func scan(t testing.TB, s *Scanner) *recorder {
	t.Helper()
	r := newRecorder(t)
	if err := s.Scan(context.Background(), r); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return r
}

// openDB opens a read-write database with the given journal mode, as the
// messaging app would.
func openDB(t testing.TB, path, journal string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode("+journal+")&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	return db
}

func mustExec(t testing.TB, db interface {
	Exec(string, ...any) (sql.Result, error)
}, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// createMessages makes the schema and n committed rows with ids 1..n.
func createMessages(t testing.TB, db *sql.DB, n int) {
	t.Helper()
	mustExec(t, db, `CREATE TABLE msg(id INTEGER PRIMARY KEY, body BLOB NOT NULL);
		CREATE INDEX msg_body ON msg(body);
		CREATE TABLE meta(k TEXT PRIMARY KEY, n INTEGER NOT NULL);
		INSERT INTO meta VALUES('last', 0);`)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		mustExec(t, tx, "INSERT INTO msg VALUES(?, randomblob(?))", i, 100+i%400)
	}
	mustExec(t, tx, "UPDATE meta SET n=? WHERE k='last'", n)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// commitMessage commits message i as the live writer does: the row and
// meta's count in one transaction, so a snapshot holds both or neither.
// It returns errors rather than failing the test: writers run on their own
// goroutine.
func commitMessage(db *sql.DB, i int64) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	if _, err := tx.Exec("INSERT INTO msg VALUES(?, randomblob(?))", i, 100+i%400); err != nil {
		tx.Rollback()
		return err
	}
	if _, err := tx.Exec("UPDATE meta SET n=? WHERE k='last'", i); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// restoreDB writes pages to a file and checks it is a sound database holding
// exactly the rows 1..k (with meta agreeing); it returns k.
func restoreDB(t testing.TB, pages []byte) int {
	t.Helper()
	path := filepath.Join(t.TempDir(), "restored.db")
	writeFile(t, path, pages)
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("restored database: integrity_check = %q, %v", check, err)
	}
	rows, err := db.Query("SELECT id FROM msg")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Ints(ids)
	for i, id := range ids {
		if id != i+1 {
			t.Fatalf("restored rows are not a prefix of the writer's history: position %d holds id %d", i, id)
		}
	}
	var last int
	if err := db.QueryRow("SELECT n FROM meta WHERE k='last'").Scan(&last); err != nil {
		t.Fatal(err)
	}
	if last != len(ids) {
		t.Fatalf("restored meta says %d rows, table holds %d: not one transaction's view", last, len(ids))
	}
	return len(ids)
}
