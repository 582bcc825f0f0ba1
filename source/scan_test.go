package source

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func buildTree(t testing.TB, root string) {
	for _, p := range []string{"b.txt", "a/z.txt", "a/y/deep.txt", "B", "a.txt", "a-b", "media/photo.jpg", "media/tmp/x.part", "debug.log"} {
		writeFile(t, filepath.Join(root, filepath.FromSlash(p)), []byte("content of "+p))
	}
	if err := os.Symlink("media/photo.jpg", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
}

func TestDeterministicPostOrder(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root)
	want := []string{
		"file:B",
		"file:a/y/deep.txt", "dir:a/y", "file:a/z.txt", "dir:a",
		"file:a-b", "file:a.txt", "file:b.txt", "file:debug.log", "symlink:link->media/photo.jpg",
		"file:media/photo.jpg", "file:media/tmp/x.part", "dir:media/tmp", "dir:media", "dir:",
	}
	for i := 0; i < 2; i++ {
		r := scan(t, NewScanner(root, Options{}))
		if got := strings.Join(r.events, " "); got != strings.Join(want, " ") {
			t.Fatalf("run %d:\n got %s\nwant %s", i, got, strings.Join(want, " "))
		}
		if info := r.infos[""]; info.Kind != KindDir || !info.Mode.IsDir() {
			t.Fatalf("root info %+v", info)
		}
		if info := r.infos["a/y/deep.txt"]; info.Kind != KindFile || info.Size != int64(len("content of a/y/deep.txt")) || info.Mode.Perm() != 0o644 {
			t.Fatalf("file info %+v", info)
		}
	}
}

func TestExclude(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root)
	var asked []string
	s := NewScanner(root, Options{Exclude: func(rel string, isDir bool) bool {
		if isDir {
			asked = append(asked, rel+"/")
		}
		return rel == "media/tmp" || strings.HasSuffix(rel, ".log")
	}})
	r := scan(t, s)
	for _, e := range r.events {
		if strings.Contains(e, "media/tmp") || strings.Contains(e, ".log") {
			t.Fatalf("excluded path visited: %s", e)
		}
	}
	if _, ok := r.infos["media/photo.jpg"]; !ok {
		t.Fatal("a sibling of an excluded directory was not visited")
	}
	if strings.Join(asked, " ") != "a/ a/y/ media/ media/tmp/" {
		t.Fatalf("Exclude was asked about directories %v", asked)
	}
}

func TestMissingRoot(t *testing.T) {
	dir := t.TempDir()
	for _, root := range []string{filepath.Join(dir, "nope"), func() string {
		p := filepath.Join(dir, "file")
		writeFile(t, p, []byte("x"))
		return p
	}()} {
		err := NewScanner(root, Options{}).Scan(context.Background(), newRecorder(t))
		if !errors.Is(err, ErrSourceMissing) {
			t.Fatalf("Scan(%s) = %v, want ErrSourceMissing", root, err)
		}
	}
}

// denyOpen injects a permission error for one path, as a root-owned test
// cannot make a file unreadable for itself with chmod.
func denyOpen(s *Scanner, name string) {
	s.openFile = func(p string) (*os.File, error) {
		if filepath.Base(p) == name {
			return nil, &fs.PathError{Op: "open", Path: p, Err: syscall.EACCES}
		}
		return os.Open(p)
	}
	s.readDir = func(p string) ([]os.DirEntry, error) {
		if filepath.Base(p) == name {
			return nil, &fs.PathError{Op: "open", Path: p, Err: syscall.EACCES}
		}
		return os.ReadDir(p)
	}
}

func TestUnreadableFileAndDirWarn(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root)
	s := NewScanner(root, Options{})
	denyOpen(s, "a.txt")
	r := scan(t, s)
	if len(r.warns["a.txt"]) != 1 || !errors.Is(r.warns["a.txt"][0], fs.ErrPermission) {
		t.Fatalf("warnings %v, want a permission warning for a.txt", r.warns)
	}
	if _, ok := r.infos["b.txt"]; !ok || r.files != 8 {
		t.Fatalf("the rest was not visited: %v", r.events)
	}

	s = NewScanner(root, Options{})
	denyOpen(s, "y")
	r = scan(t, s)
	if len(r.warns["a/y"]) != 1 {
		t.Fatalf("warnings %v, want one for directory a/y", r.warns)
	}
	if _, ok := r.infos["a/y"]; ok {
		t.Fatal("an unreadable directory should be left out, not stored empty")
	}
	if _, ok := r.infos["a/z.txt"]; !ok {
		t.Fatal("siblings of an unreadable directory were not visited")
	}
}

// TestVisitorErrorStops: a visitor error ends the scan and comes back wrapped.
func TestVisitorErrorStops(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root)
	boom := errors.New("disk full")
	r := newRecorder(t)
	r.onFile = func(FileInfo, Content) ([]byte, error) { return nil, boom }
	err := NewScanner(root, Options{}).Scan(context.Background(), r)
	if !errors.Is(err, boom) || r.files != 1 {
		t.Fatalf("Scan = %v after %d files, want the visitor's error after the first", err, r.files)
	}

	ctx, cancel := context.WithCancel(context.Background())
	r = newRecorder(t)
	r.onFile = func(FileInfo, Content) ([]byte, error) { cancel(); return []byte("t"), nil }
	if err := NewScanner(root, Options{}).Scan(ctx, r); !errors.Is(err, context.Canceled) || r.files != 1 {
		t.Fatalf("Scan = %v after %d files, want context.Canceled after the first", err, r.files)
	}
}

// TestCacheSkipsUnchanged: a second scan with the (saved and reloaded) cache
// reads nothing, a touched file is read again, a new WAL commit makes the
// database read again although the database file itself is untouched.
func TestCacheSkipsUnchanged(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root)
	dbPath := filepath.Join(root, "chat.db")
	db := openDB(t, dbPath, "WAL")
	createMessages(t, db, 100)
	mustExec(t, db, "PRAGMA wal_autocheckpoint=0") // keep commits in the -wal

	cachePath := filepath.Join(t.TempDir(), "state", "filecache")
	if err := os.MkdirAll(filepath.Dir(cachePath), 0o700); err != nil {
		t.Fatal(err)
	}
	cache, err := LoadFileCache(cachePath)
	if err != nil {
		t.Fatal(err)
	}
	s := NewScanner(root, Options{Cache: cache})
	future(s)
	first := scan(t, s)
	if first.files != 10 {
		t.Fatalf("first scan read %d files, want 10", first.files)
	}
	// Reading the database must not make its own identity look changed
	// (as root, SQLite's open of the -wal updates the -wal's ctime).
	if wal, _ := lstatID(dbPath + "-wal"); cache.entries["chat.db"].WalID != wal || wal == (statID{}) {
		t.Fatalf("cached -wal identity %+v, now %+v", cache.entries["chat.db"].WalID, wal)
	}
	if err := cache.Save(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(cachePath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache file: %v, mode %v; want 0600", err, fi.Mode())
	}

	reloaded, err := LoadFileCache(cachePath)
	if err != nil {
		t.Fatal(err)
	}
	s = NewScanner(root, Options{Cache: reloaded})
	future(s)
	var opens []string
	s.openFile = func(p string) (*os.File, error) { opens = append(opens, p); return os.Open(p) }
	r := scan(t, s)
	if len(opens) != 0 || r.files != 0 || len(r.warns) != 0 {
		t.Fatalf("unchanged tree: opens %v, %d File calls, warnings %v; want none", opens, r.files, r.warns)
	}
	if got := r.eventsWith("unchanged:"); len(got) != 10 {
		t.Fatalf("Unchanged calls %v, want all 10 files", got)
	}
	for p, tok := range first.tokens {
		if string(r.tokens[p]) != string(tok) {
			t.Fatalf("%s: Unchanged token differs from the stored one", p)
		}
	}
	if got, want := r.infos["chat.db"], first.infos["chat.db"]; got.Kind != KindSQLite || got.Size != want.Size || got.PageSize != want.PageSize {
		t.Fatalf("unchanged database info %+v, want %+v", got, want)
	}

	// Touch one file: only it is read.
	later := time.Now().Add(-time.Minute)
	if err := os.Chtimes(filepath.Join(root, "a", "z.txt"), later, later); err != nil {
		t.Fatal(err)
	}
	r = scan(t, s)
	if got := r.eventsWith("file:"); strings.Join(got, " ") != "a/z.txt" {
		t.Fatalf("after touching a/z.txt, read %v", got)
	}

	// A commit in WAL mode leaves the database file alone but changes the -wal.
	dbBefore, err := lstatID(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "INSERT INTO msg VALUES(101, x'01'); UPDATE meta SET n=101")
	if dbAfter, _ := lstatID(dbPath); dbAfter != dbBefore {
		t.Fatal("test premise: the commit should not touch the database file")
	}
	r = scan(t, s)
	if got := r.eventsWith("file:"); strings.Join(got, " ") != "chat.db" {
		t.Fatalf("after a WAL commit, read %v, want chat.db", got)
	}
	if k := restoreDB(t, r.contents["chat.db"]); k != 101 {
		t.Fatalf("restored %d rows, want 101", k)
	}

	// Deleted files drop out of the cache; Invalidate forgets everything.
	os.Remove(filepath.Join(root, "b.txt"))
	scan(t, s)
	if _, ok := reloaded.entries["b.txt"]; ok {
		t.Fatal("a deleted file stayed in the cache")
	}
	reloaded.Invalidate()
	if r := scan(t, s); r.files != 9 {
		t.Fatalf("after Invalidate read %d files, want 9", r.files)
	}
}

// TestRacyFilesAreReread: a file changed within the racy window of its read
// is read again next time even though its stat did not change (with the real
// clock every file written by the test is within the window).
func TestRacyFilesAreReread(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "fresh"), []byte("just written"))
	cache := emptyCache(t)
	s := NewScanner(root, Options{Cache: cache})
	scan(t, s)
	if !cache.entries["fresh"].Reread {
		t.Fatal("a file changed within the racy window was trusted")
	}
	if r := scan(t, s); r.files != 1 {
		t.Fatalf("second scan: %v, want the racy file read again", r.events)
	}
}

func TestCorruptCacheIsEmptyWithWarning(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "filecache")
	writeFile(t, p, []byte("garbage"))
	cache, err := LoadFileCache(p)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "f"), []byte("x"))
	core, logs := observer.New(zap.WarnLevel)
	s := NewScanner(root, Options{Cache: cache, Log: zap.New(core)})
	if r := scan(t, s); r.files != 1 {
		t.Fatal("file not read")
	}
	if logs.Len() != 1 {
		t.Fatalf("%d warnings logged, want one about the cache", logs.Len())
	}
	if err := cache.Save(); err != nil {
		t.Fatal(err)
	}
	again, err := LoadFileCache(p)
	if err != nil || len(again.entries) != 1 {
		t.Fatalf("saved cache reloads with %d entries, %v", len(again.entries), err)
	}
	// A truncated cache file (crash while someone else wrote it) is empty too.
	data, _ := os.ReadFile(p)
	writeFile(t, p, data[:len(data)-5])
	if c, err := LoadFileCache(p); err != nil || len(c.entries) != 0 || c.loadWarning == nil {
		t.Fatalf("truncated cache: %v, %d entries", err, len(c.entries))
	}
}

// TestInterruptedScanKeepsCache: a cancelled scan does not forget the files
// it did not reach; Invalidate during a scan is not undone by it.
func TestInterruptedScanKeepsCache(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root)
	cache := emptyCache(t)
	s := NewScanner(root, Options{Cache: cache})
	future(s)
	scan(t, s)
	full := len(cache.entries)

	ctx, cancel := context.WithCancel(context.Background())
	r := newRecorder(t)
	os.Chtimes(filepath.Join(root, "B"), time.Unix(1, 0), time.Unix(1, 0))
	r.onFile = func(FileInfo, Content) ([]byte, error) { cancel(); return nil, ctx.Err() }
	if err := s.Scan(ctx, r); !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan = %v", err)
	}
	if len(cache.entries) != full {
		t.Fatalf("after a cancelled scan the cache holds %d entries, want %d", len(cache.entries), full)
	}

	r = newRecorder(t)
	r.onFile = func(FileInfo, Content) ([]byte, error) { cache.Invalidate(); return []byte("t"), nil }
	if err := s.Scan(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if len(cache.entries) != 0 {
		t.Fatalf("Invalidate during a scan was undone: %d entries", len(cache.entries))
	}
}

// TestUnreadableFileKeepsPrevious: a file read before that can no longer
// be opened keeps its stored version (Unchanged with the same token), and
// the warning says it is unreadable and kept.
func TestUnreadableFileKeepsPrevious(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root)
	cache, err := LoadFileCache(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	first := scan(t, NewScanner(root, Options{Cache: cache}))
	writeFile(t, filepath.Join(root, "a.txt"), []byte("changed, but unreadable now"))
	s := NewScanner(root, Options{Cache: cache})
	denyOpen(s, "a.txt")
	r := scan(t, s)
	var ue *UnreadableError
	if len(r.warns["a.txt"]) != 1 || !errors.As(r.warns["a.txt"][0], &ue) || !ue.Kept || ue.IsDir || !errors.Is(ue, fs.ErrPermission) {
		t.Fatalf("warnings %v, want a.txt unreadable and kept", r.warns)
	}
	if got := r.eventsWith("unchanged:"); !slices.Contains(got, "a.txt") || !bytes.Equal(r.tokens["a.txt"], first.tokens["a.txt"]) {
		t.Fatalf("a.txt not kept at its previous version: %v", r.events)
	}
	// Readable again: read again (not trusted from the cache).
	r = scan(t, NewScanner(root, Options{Cache: cache}))
	if string(r.contents["a.txt"]) != "changed, but unreadable now" {
		t.Fatalf("a.txt not read once readable again: %v", r.events)
	}

	// A directory: the scanner reports it for the visitor to keep.
	s = NewScanner(root, Options{Cache: cache})
	denyOpen(s, "y")
	r = scan(t, s)
	if len(r.warns["a/y"]) != 1 || !errors.As(r.warns["a/y"][0], &ue) || !ue.IsDir {
		t.Fatalf("warnings %v, want directory a/y unreadable", r.warns)
	}
}

// TestUnreadableDatabaseCompanionsSkipped: a database that cannot be
// opened may well be one, so its -wal and -shm are never backed up as
// plain files (restored beside the kept older database, that -wal would
// be applied to it). The daemon's TestUnreadableKeptAndReported saw them
// copied whenever the database's failed read ended before the scan
// reached its companions.
func TestUnreadableDatabaseCompanionsSkipped(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "msgstore.db"), append([]byte("SQLite format 3\x00"), make([]byte, 4096-16)...))
	writeFile(t, filepath.Join(root, "msgstore.db-wal"), []byte("wal frames"))
	writeFile(t, filepath.Join(root, "msgstore.db-shm"), []byte("shm"))
	for _, parallel := range []int{0, 4} {
		s := NewScanner(root, Options{Parallel: parallel})
		denyOpen(s, "msgstore.db")
		r := scan(t, s)
		if len(r.warns["msgstore.db"]) != 1 || !errors.Is(r.warns["msgstore.db"][0], fs.ErrPermission) {
			t.Fatalf("parallel %d: warnings %v, want a permission warning for msgstore.db", parallel, r.warns)
		}
		for _, c := range []string{"msgstore.db-wal", "msgstore.db-shm"} {
			if _, ok := r.infos[c]; ok {
				t.Errorf("parallel %d: %s of an unreadable database was backed up as a plain file", parallel, c)
			}
		}
	}
}
