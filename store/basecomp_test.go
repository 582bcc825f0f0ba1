package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// editScattered rewrites n messages spread over the first total, one
// transaction each, as an app edits them.
func editScattered(t *testing.T, db *storetest.ChatDB, n, total, round int) {
	t.Helper()
	for i := range n {
		id := i * total / n
		if _, err := db.DB.Exec(`UPDATE messages SET body = ? WHERE id = ?`, fmt.Sprintf("edited %d %s", round, storetest.MessageBody(id)), id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPagesOnPreviousVersion: pages an app changed are stored compressed
// on their previous version, at a fraction of what they cost alone; the
// database restores byte for byte (old and new snapshots), check
// --read-data verifies them, and a page changed again is never compressed
// on a page that is itself on a base: it is stored on its own, and is the
// base of its next version.
func TestPagesOnPreviousVersion(t *testing.T) {
	e, db := dictEnv(t)
	first := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))

	editScattered(t, db, 40, 4000, 1)
	db.Insert(4000, 4010, 1)
	e.Backup()
	blobs, bases := store.OnBase(e.Store)
	if blobs < 30 || bases != blobs {
		t.Fatalf("after editing 40 scattered messages: %d pages on %d bases, want at least 30, one base each", blobs, bases)
	}
	// What the delta holds besides its padding. Measured: about 0.2 KiB
	// a page on its base (index entry and seal included), against 1.8 KiB
	// a page alone.
	sizes, padding := store.DeltaPadding(e.Store)
	last := len(sizes) - 1
	if per := (sizes[last] - padding[last]) / int64(blobs); per > 600 {
		t.Fatalf("the change took %d bytes before padding for %d changed pages (%d each)", sizes[last]-padding[last], blobs, per)
	}
	second := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))

	// Changed again: the previous versions are on a base, so the pages
	// are stored on their own (no chains) and become bases...
	editScattered(t, db, 40, 4000, 2)
	e.Backup()
	if blobs2, bases2 := store.OnBase(e.Store); blobs2 > blobs+5 || bases2 > bases+5 {
		t.Fatalf("after a second edit: %d pages on %d bases, want about the %d on %d of the first (pages on a base are no base)", blobs2, bases2, blobs, bases)
	}
	third := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	// ...of the third version.
	editScattered(t, db, 40, 4000, 3)
	e.Backup()
	if blobs3, bases3 := store.OnBase(e.Store); blobs3 < blobs+30 || bases3 < bases+30 {
		t.Fatalf("after a third edit: %d pages on %d bases, want at least %d on %d", blobs3, bases3, blobs+30, bases+30)
	}
	fourth := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	restoreEverySnapshot(t, e, first, second, third, fourth)
}

// restoreEverySnapshot opens the repository as a new device, checks every
// byte (check --read-data), restores each snapshot into a new directory
// and compares its database with want (a digest per snapshot, oldest
// first); it returns the directories.
func restoreEverySnapshot(t *testing.T, e *storetest.Env, want ...string) []string {
	t.Helper()
	fresh, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := check.Run(e.Ctx, fresh, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check --read-data: %v", err)
	}
	snaps := fresh.Snapshots()
	dirs := make([]string, len(want))
	for i, w := range want {
		dirs[i] = filepath.Join(t.TempDir(), "r")
		if _, err := restore.Run(e.Ctx, fresh, restore.Options{Snapshot: snaps[i].IDString(), Target: dirs[i]}); err != nil {
			t.Fatalf("restoring snapshot %d: %v", i+1, err)
		}
		if got := storetest.DBDigest(t, filepath.Join(dirs[i], "msgstore.db")); got != w {
			t.Fatalf("snapshot %d restored to digest %s, want %s", i+1, got, w)
		}
	}
	return dirs
}

// TestPagesOnBasePruneAndRotate: prune keeps a base (and its dictionary)
// while a kept page is compressed on it, even when the snapshot that had
// the base as a page is forgotten; key rotation re-seals the pages.
func TestPagesOnBasePruneAndRotate(t *testing.T) {
	e, db := dictEnv(t)
	editScattered(t, db, 40, 4000, 1)
	e.Backup()
	if blobs, _ := store.OnBase(e.Store); blobs < 30 {
		t.Fatalf("%d pages on a base, want at least 30", blobs)
	}
	want := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	if _, err := prune.Run(e.Ctx, e.Store, prune.Options{Policy: prune.Policy{KeepLast: 1}, SmallDelta: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	if got, err := restoreDigest(t, e, e.Key); err != nil || got != want {
		t.Fatalf("restore after prune: %v (digest %s, want %s)", err, got, want)
	}
	if _, err := check.Run(e.Ctx, e.Store, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check --read-data after prune: %v", err)
	}

	newKey := rotateKey(t, e)
	if got, err := restoreDigest(t, e, newKey); err != nil || got != want {
		t.Fatalf("restore after rotation: %v", err)
	}
}

// TestPagesOnDamagedBase: a base the remote altered is an integrity error
// for the pages compressed on it, naming the base.
func TestPagesOnDamagedBase(t *testing.T) {
	e, db := dictEnv(t)
	editScattered(t, db, 40, 4000, 1)
	e.Backup()
	base, delta, off, n := store.SomeBase(e.Store)
	p := filepath.Join(e.RemoteDir, filepath.FromSlash(delta))
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off+n/2); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off+n/2); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fresh, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	_, err = restore.Run(e.Ctx, fresh, restore.Options{Target: filepath.Join(t.TempDir(), "r")})
	if !errors.Is(err, store.ErrIntegrity) || !strings.Contains(err.Error(), base.String()) {
		t.Fatalf("restoring pages on a damaged base: %v, want an integrity error naming %s", err, base)
	}
}

// readCounter counts the object reads (Get) a store makes.
type readCounter struct {
	remotes.Remote
	mu   sync.Mutex
	gets []string
}

func (c *readCounter) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	c.mu.Lock()
	c.gets = append(c.gets, fmt.Sprintf("%s@%d+%d", name, off, n))
	c.mu.Unlock()
	return c.Remote.Get(ctx, name, off, n)
}

func (c *readCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.gets
	c.gets = nil
	return g
}

// TestSmallChangeReadsNoBlob: a backup of the bench's small change (new
// messages and scattered edits, one commit each, the app holding the
// database open) takes the changed pages' previous versions from this
// machine: once the store is open and its dictionary loaded, it reads no
// object from the remote, and yet stores the changed pages on their
// previous version.
func TestSmallChangeReadsNoBlob(t *testing.T) {
	e, db := dictEnv(t)
	e.Store.Close()
	counted := &readCounter{Remote: e.Remote}
	r, err := store.Open(e.Ctx, counted, e.Key, store.Options{StateDir: e.State})
	if err != nil {
		t.Fatal(err)
	}
	e.Store, e.Remote = r, counted
	// Setup, once per process: opening reads the config and the trailers,
	// the first backup that compresses a page the current dictionary.
	db.Insert(4000, 4001, 1)
	if _, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src}); err != nil {
		t.Fatal(err)
	}
	if gets := counted.take(); len(gets) > 4 {
		t.Fatalf("opening and a first backup read %d objects (%v), want the config, the rotation marker, the trailer and the dictionary", len(gets), gets)
	}

	db.Insert(4001, 4101, 1)
	editScattered(t, db, 100, 4000, 1)
	if _, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src}); err != nil {
		t.Fatal(err)
	}
	if gets := counted.take(); len(gets) > 0 {
		t.Fatalf("the backup of a small change read %d objects from the remote (%v), want none", len(gets), gets[:min(len(gets), 5)])
	}
	if blobs, _ := store.OnBase(e.Store); blobs < 50 {
		t.Fatalf("%d changed pages stored on their previous version, want at least 50", blobs)
	}
	if _, err := e.Store.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	want := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	if got, err := restoreDigest(t, e, e.Key); err != nil || got != want {
		t.Fatalf("restore: %v (digest %s, want %s)", err, got, want)
	}
}

// onBaseRepo backs up edits scattered over a dictionary database, so that
// many pages are stored on a base, and opens the repository afresh with
// opts through a remote that counts its reads (those of the opening
// taken).
func onBaseRepo(t *testing.T, opts store.Options) (e *storetest.Env, fresh *store.Store, counted *readCounter, blobs, bases int) {
	t.Helper()
	e, db := dictEnv(t)
	editScattered(t, db, 100, 4000, 1)
	e.Backup()
	blobs, bases = store.OnBase(e.Store)
	if blobs < 50 {
		t.Fatalf("%d pages on a base, want at least 50", blobs)
	}
	counted = &readCounter{Remote: storetest.OpenRemote(t, e.RemoteDir)}
	fresh, err := store.Open(e.Ctx, counted, e.Key, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fresh.Close() })
	counted.take() // the config and the trailers
	return e, fresh, counted, blobs, bases
}

// TestRestoreFetchesBasesTogether: a restore fetches the bases of the
// pages on a base together, in a few ranged reads, not one read each.
func TestRestoreFetchesBasesTogether(t *testing.T) {
	e, fresh, counted, blobs, bases := onBaseRepo(t, store.Options{})
	dst := filepath.Join(t.TempDir(), "r")
	if _, err := restore.Run(e.Ctx, fresh, restore.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	if gets := counted.take(); len(gets) > bases/4 {
		t.Fatalf("the restore read %d ranges for %d pages on %d bases, want far fewer than one per base", len(gets), blobs, bases)
	}
	want := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	if got := storetest.DBDigest(t, filepath.Join(dst, "msgstore.db")); got != want {
		t.Fatalf("restored digest %s, want %s", got, want)
	}

	// Bases over the budget: the fetch is cut into windows, each page
	// still written once and right.
	defer store.SetBaseFetchBudget(3 * 4096)()
	dst = filepath.Join(t.TempDir(), "r")
	if _, err := restore.Run(e.Ctx, fresh, restore.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	if got := storetest.DBDigest(t, filepath.Join(dst, "msgstore.db")); got != want {
		t.Fatalf("restored in windows of 3 bases: digest %s, want %s", got, want)
	}
	if gets := counted.take(); len(gets) < bases/3 {
		t.Fatalf("a restore in windows of 3 bases read %d ranges for %d bases: not cut into windows", len(gets), bases)
	}
}

// TestVerifyDeltaFetchesBasesTogether: check --read-data (VerifyDelta)
// and compaction read a delta through forEachBlob, which reads the bases
// of its pages on a base together too, not one ranged read per page
// (found in review: 113 reads for 110 pages on 110 bases); cut into
// windows when the bases exceed the budget, it still verifies.
func TestVerifyDeltaFetchesBasesTogether(t *testing.T) {
	e, fresh, counted, blobs, bases := onBaseRepo(t, store.Options{StateDir: filepath.Join(t.TempDir(), "st")})
	us := fresh.Usage(map[crypt.ID]struct{}{})
	last := us[len(us)-1].Name
	if err := fresh.VerifyDelta(e.Ctx, last); err != nil {
		t.Fatal(err)
	}
	if gets := counted.take(); len(gets) > bases/4 {
		t.Fatalf("VerifyDelta read %d ranges for %d pages on %d bases, want far fewer than one per base", len(gets), blobs, bases)
	}
	defer store.SetBaseFetchBudget(3 * 4096)()
	if err := fresh.VerifyDelta(e.Ctx, last); err != nil {
		t.Fatalf("verified in windows of 3 bases: %v", err)
	}
	if gets := counted.take(); len(gets) < bases/3 {
		t.Fatalf("a verify in windows of 3 bases read %d ranges for %d bases: not cut into windows", len(gets), bases)
	}
}

// TestRestoreOpensABaseGroupOnce: a base is most often a page of a group
// (a first backup seals its pages in groups) whose other pages the
// restore also wants. The fetch of the bases hands those pages on too,
// so the group is read and opened once, not once for its base and again
// for its other pages: no group's bytes are read twice. (Here every
// group holds a base, so no range of the rest's spans one in a gap.)
func TestRestoreOpensABaseGroupOnce(t *testing.T) {
	e, fresh, counted, _, _ := onBaseRepo(t, store.Options{})
	dst := filepath.Join(t.TempDir(), "r")
	if _, err := restore.Run(e.Ctx, fresh, restore.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	want := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	if got := storetest.DBDigest(t, filepath.Join(dst, "msgstore.db")); got != want {
		t.Fatalf("restored digest %s, want %s", got, want)
	}
	groups := store.Groups(fresh)
	if len(groups) == 0 {
		t.Fatal("the database's pages were sealed in no group")
	}
	reads := map[string]int{} // "delta@offset": reads covering that group
	for _, g := range counted.take() {
		at := strings.LastIndexByte(g, '@')
		var off, n int64
		if _, err := fmt.Sscanf(g[at+1:], "%d+%d", &off, &n); err != nil {
			t.Fatalf("read %q: %v", g, err)
		}
		for _, gr := range groups {
			if gr.Delta == g[:at] && off <= gr.Offset && gr.Offset+gr.SealedLen <= off+n {
				reads[fmt.Sprintf("%s@%d", gr.Delta, gr.Offset)]++
			}
		}
	}
	twice := 0
	for _, k := range reads {
		if k > 1 {
			twice++
		}
	}
	if twice > 0 {
		t.Fatalf("the restore read %d of %d groups more than once (a group holding a base was opened for it, then again for its other pages)", twice, len(groups))
	}
}
