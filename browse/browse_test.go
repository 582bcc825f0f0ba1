package browse_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/store"
)

// repo is a repository with two snapshots whose contents the test knows:
// a chat database at two points in time, media added and removed.
type repo struct {
	ctx          context.Context
	st           *store.Store
	r            *counting
	s1, s2       store.Snapshot
	rows1, rows2 string // the database's rows at each snapshot
	photo, notes []byte // media/photo.jpg (both), notes.txt (first)
}

// counting counts the blobs fetched through FetchBlobs (file data and
// nothing else: trees and chunk lists are read through Tree and ChunkRefs).
type counting struct {
	*store.Store
	fetched atomic.Int64
}

func (c *counting) FetchBlobs(ctx context.Context, ids []crypt.ID, fn func(crypt.ID, []byte) error) error {
	c.fetched.Add(int64(len(ids)))
	return c.Store.FetchBlobs(ctx, ids, fn)
}

func newRepo(t *testing.T, spec string) *repo {
	t.Helper()
	ctx := t.Context()
	src := t.TempDir()
	rem, err := remotes.Open(ctx, spec, remotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rem.Close() })
	key, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Init(ctx, rem, key, store.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rp := &repo{ctx: ctx, st: st, r: &counting{Store: st}}
	snap := func() store.Snapshot {
		res, err := backup.Run(ctx, st, backup.Options{Source: src})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		return res.Snapshot
	}
	dbPath := filepath.Join(src, "msgstore.db")
	db := storetest.OpenChatDB(t, dbPath)
	db.Insert(0, 3000, 500)
	// Media is cut every 2 MiB: four chunks, the last shorter.
	rp.photo = storetest.RandBytes(1, 7<<20+4321)
	rp.notes = []byte("first notes")
	storetest.WriteFile(t, filepath.Join(src, "media", "photo.jpg"), rp.photo)
	storetest.WriteFile(t, filepath.Join(src, "media", "voice", "note1.opus"), storetest.RandBytes(2, 40000))
	storetest.WriteFile(t, filepath.Join(src, "notes.txt"), rp.notes)
	rp.rows1 = storetest.TableRows(t, dbPath)
	rp.s1 = snap()
	db.Insert(3000, 3100, 100)
	if _, err := db.DB.Exec(`UPDATE messages SET body = 'edited' WHERE id = 7`); err != nil {
		t.Fatal(err)
	}
	storetest.WriteFile(t, filepath.Join(src, "notes.txt"), []byte("second notes, longer"))
	os.Remove(filepath.Join(src, "media", "voice", "note1.opus"))
	storetest.WriteFile(t, filepath.Join(src, "media", "new.jpg"), storetest.RandBytes(3, 5000))
	rp.rows2 = storetest.TableRows(t, dbPath)
	rp.s2 = snap()
	if rp.rows1 == rp.rows2 {
		t.Fatal("the database did not change between the snapshots")
	}
	return rp
}

// remoteKinds runs a test against a local-path remote and an rclone WebDAV server.
func remoteKinds(t *testing.T, fn func(t *testing.T, spec string)) {
	t.Run("local", func(t *testing.T) { fn(t, t.TempDir()) })
	t.Run("webdav", func(t *testing.T) { fn(t, remotetest.StartWebDAV(t, t.TempDir()).Spec) })
}

func TestBrowse(t *testing.T) {
	remoteKinds(t, func(t *testing.T, spec string) {
		rp := newRepo(t, spec)
		t.Run("select", rp.testSelect)
		t.Run("ls", rp.testLs)
		t.Run("dump database", rp.testDumpDatabase)
		t.Run("ranged read", rp.testRangedRead)
		t.Run("streamed read", rp.testStreamedRead)
		t.Run("chunk places", rp.testChunkPlaces)
		t.Run("tar", rp.testTar)
		t.Run("diff", rp.testDiff)
	})
}

func (rp *repo) testSelect(t *testing.T) {
	for _, c := range []struct {
		spec string
		at   time.Time
		want store.Snapshot
	}{
		{"latest", time.Time{}, rp.s2},
		{rp.s1.ShortID(), time.Time{}, rp.s1},
		{"", rp.s1.Time, rp.s1},
		{"", rp.s2.Time.Add(-time.Nanosecond), rp.s1},
		{"latest", rp.s2.Time.Add(time.Hour), rp.s2},
	} {
		got, err := browse.Select(rp.r, c.spec, c.at)
		if err != nil || got.ID != c.want.ID {
			t.Errorf("Select(%q, %v) = %s, %v; want %s", c.spec, c.at, got.ShortID(), err, c.want.ShortID())
		}
	}
	_, err := browse.Select(rp.r, "", rp.s1.Time.Add(-time.Second))
	if !errors.Is(err, store.ErrSnapshotNotFound) || !strings.Contains(err.Error(), "the first is from") {
		t.Errorf("a time before the first snapshot: %v", err)
	}
	if _, err := browse.Select(rp.r, "ffffffff", time.Time{}); !errors.Is(err, store.ErrSnapshotNotFound) {
		t.Errorf("unknown snapshot: %v", err)
	}
	if _, err := browse.ParseTime("yesterday"); !errors.Is(err, browse.ErrBadTime) {
		t.Errorf("ParseTime(yesterday): %v", err)
	}
	if tm, err := browse.ParseTime("2026-11-30 18:00"); err != nil || tm.Hour() != 18 || tm.Location() != time.Local {
		t.Errorf("ParseTime local: %v %v", tm, err)
	}
}

func (rp *repo) testLs(t *testing.T) {
	before := rp.r.fetched.Load()
	root := browse.Root(rp.s1)
	var paths []string
	err := browse.Walk(rp.ctx, rp.r, "", &root, func(p string, n *store.Node) error {
		paths = append(paths, p+":"+n.Kind.String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	want := []string{":dir", "media/photo.jpg:file", "media/voice/note1.opus:file", "media/voice:dir", "media:dir", "msgstore.db:sqlite", "notes.txt:file"}
	sort.Strings(want)
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Errorf("walk: %v\nwant %v", paths, want)
	}
	if n := rp.r.fetched.Load() - before; n != 0 {
		t.Errorf("listing fetched %d data blobs", n)
	}
	n, err := browse.Lookup(rp.ctx, rp.r, rp.s1, "/media/voice/../photo.jpg")
	if err != nil || n.Size != uint64(len(rp.photo)) {
		t.Errorf("lookup: %+v %v", n, err)
	}
	for _, p := range []string{"media/nothere", "notes.txt/inside", "media/voice/note1.opus/x"} {
		if _, err := browse.Lookup(rp.ctx, rp.r, rp.s2, p); !errors.Is(err, browse.ErrPathNotFound) {
			t.Errorf("lookup %s: %v", p, err)
		}
	}
}

func (rp *repo) dump(t *testing.T, s store.Snapshot, p string) []byte {
	t.Helper()
	n, err := browse.Lookup(rp.ctx, rp.r, s, p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := browse.Open(rp.ctx, rp.r, &n)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := f.WriteTo(rp.ctx, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func (rp *repo) testDumpDatabase(t *testing.T) {
	for _, c := range []struct {
		s    store.Snapshot
		rows string
	}{{rp.s1, rp.rows1}, {rp.s2, rp.rows2}} {
		p := filepath.Join(t.TempDir(), "dumped.db")
		storetest.WriteFile(t, p, rp.dump(t, c.s, "msgstore.db"))
		if got := storetest.TableRows(t, p); got != c.rows {
			t.Errorf("snapshot %s: the dumped database's rows differ from the source's at that time (%d vs %d bytes)", c.s.ShortID(), len(got), len(c.rows))
		}
	}
	if got := rp.dump(t, rp.s1, "notes.txt"); !bytes.Equal(got, rp.notes) {
		t.Errorf("notes.txt in the first snapshot: %q", got)
	}
}

// openPhoto opens media/photo.jpg of the second snapshot.
func (rp *repo) openPhoto(t *testing.T) *browse.File {
	t.Helper()
	n, err := browse.Lookup(rp.ctx, rp.r, rp.s2, "media/photo.jpg")
	if err != nil {
		t.Fatal(err)
	}
	f, err := browse.Open(rp.ctx, rp.r, &n)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (rp *repo) testRangedRead(t *testing.T) {
	f := rp.openPhoto(t)
	if len(f.Refs()) < 4 {
		t.Fatalf("the photo has %d chunks; the test needs several", len(f.Refs()))
	}
	before := rp.r.fetched.Load()
	off := int64(len(rp.photo) / 2)
	buf := make([]byte, 100)
	if k, err := f.ReadAt(rp.ctx, buf, off); err != nil || k != 100 || !bytes.Equal(buf, rp.photo[off:off+100]) {
		t.Fatalf("ReadAt: %d %v", k, err)
	}
	if got := rp.r.fetched.Load() - before; got < 1 || got > 2 {
		t.Errorf("reading 100 bytes fetched %d chunks of %d", got, len(f.Refs()))
	}
	tail := make([]byte, 50)
	k, err := f.ReadAt(rp.ctx, tail, int64(len(rp.photo)-10))
	if k != 10 || err != io.EOF || !bytes.Equal(tail[:10], rp.photo[len(rp.photo)-10:]) {
		t.Errorf("reading past the end: %d %v", k, err)
	}
}

// testStreamedRead: reading a photo the way the kernel reads a mounted
// file, 128 KiB at a time, fetches each of its chunks (media chunks, up
// to 2 MiB) once, not once per read.
func (rp *repo) testStreamedRead(t *testing.T) {
	f := rp.openPhoto(t)
	before := rp.r.fetched.Load()
	got := make([]byte, 0, len(rp.photo))
	buf := make([]byte, 128<<10)
	for off := int64(0); ; {
		k, err := f.ReadAt(rp.ctx, buf, off)
		got = append(got, buf[:k]...)
		off += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, rp.photo) {
		t.Fatal("the photo read 128 KiB at a time differs")
	}
	if fetched := rp.r.fetched.Load() - before; fetched != int64(len(f.Refs())) {
		t.Errorf("reading the photo 128 KiB at a time fetched %d chunks; it has %d", fetched, len(f.Refs()))
	}
}

func (rp *repo) testTar(t *testing.T) {
	n, err := browse.Lookup(rp.ctx, rp.r, rp.s1, "media")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := browse.Tar(rp.ctx, rp.r, &n, &b); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&b)
	got := map[string]int{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		got[h.Name] = len(data)
		if h.Name == "photo.jpg" && !bytes.Equal(data, rp.photo) {
			t.Error("photo.jpg in the tar stream differs")
		}
	}
	want := map[string]int{"photo.jpg": len(rp.photo), "voice/": 0, "voice/note1.opus": 40000}
	if len(got) != len(want) {
		t.Fatalf("tar holds %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("tar %s: %d bytes, want %d", k, got[k], v)
		}
	}
}

func (rp *repo) testDiff(t *testing.T) {
	a, b := browse.Root(rp.s1), browse.Root(rp.s2)
	before := rp.r.fetched.Load()
	got := map[string]browse.Change{}
	if err := browse.Diff(rp.ctx, rp.r, &a, &b, func(c browse.Change) error { got[c.Path] = c; return nil }); err != nil {
		t.Fatal(err)
	}
	if n := rp.r.fetched.Load() - before; n != 0 {
		t.Errorf("diff fetched %d data blobs", n)
	}
	want := map[string]string{"msgstore.db": "changed", "notes.txt": "changed", "media/new.jpg": "added", "media/voice/note1.opus": "removed"}
	for p, what := range want {
		if got[p].What != what {
			t.Errorf("%s: %q, want %q", p, got[p].What, what)
		}
	}
	if len(got) != len(want) {
		t.Errorf("diff: %v", got)
	}
	// The page count is what a page-by-page comparison of the two dumped
	// databases finds.
	db1, db2 := rp.dump(t, rp.s1, "msgstore.db"), rp.dump(t, rp.s2, "msgstore.db")
	n, _ := browse.Lookup(rp.ctx, rp.r, rp.s2, "msgstore.db")
	ps := int(n.PageSize)
	pages := 0
	for off := 0; off < max(len(db1), len(db2)); off += ps {
		if off+ps > len(db1) || off+ps > len(db2) || !bytes.Equal(db1[off:off+ps], db2[off:off+ps]) {
			pages++
		}
	}
	if c := got["msgstore.db"]; c.Pages != pages || pages == 0 || c.OldSize != uint64(len(db1)) || c.NewSize != uint64(len(db2)) {
		t.Errorf("database: %+v; the dumps differ in %d pages of %d bytes", c, pages, ps)
	}
	if c := got["notes.txt"]; c.Pages != -1 || c.OldSize != 11 || c.NewSize != 20 {
		t.Errorf("notes.txt: %+v", c)
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pat, p string
		want   bool
	}{
		{"*.opus", "media/voice/a.opus", true},
		{"media/*", "media/a.jpg", true},
		{"media/*", "media/voice/a.opus", false},
		{"/notes.txt", "notes.txt", true},
		{"voice", "media/voice", true},
		{"*.jpg", "media/voice", false},
	} {
		if got := browse.Match(c.pat, c.p); got != c.want {
			t.Errorf("Match(%q, %q) = %v", c.pat, c.p, got)
		}
	}
	if !browse.MatchAny([]string{"media/voice"}, "media/voice/a.opus") || browse.MatchAny([]string{"voice"}, "media/x") {
		t.Error("MatchAny does not take a matched directory's contents")
	}
	if err := browse.ValidPatterns([]string{"[a"}); err == nil {
		t.Error("a bad pattern passed")
	}
}
