//go:build linux

package mount_test

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/mount"
	"github.com/chatsafe/chatsafe/store"
)

// TestMountInterleavedReadersShareGroups: two readers of a database
// through the kernel's FUSE, one from its start and one from its middle,
// reading a page at a time in turns (as SQLite reads a B-tree, without
// readahead), each in other groups than the other's. The groups they read
// stay decoded for them: about one decompression per group (a group holds
// up to store.GroupPages pages), not one per page read.
func TestMountInterleavedReadersShareGroups(t *testing.T) {
	e := storetest.NewEnv(t)
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
	db.Insert(0, 8000, 500)
	e.Backup()
	r, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	dir := startMount(t, r, mount.Options{})

	p := filepath.Join(dir, "latest", "msgstore.db")
	a, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fi, err := a.Stat()
	if err != nil {
		t.Fatal(err)
	}
	// Without readahead, as SQLite's reads of a B-tree are: each read is
	// a page.
	for _, f := range []*os.File{a, b} {
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM); err != nil {
			t.Fatal(err)
		}
	}
	half := fi.Size() / 2 / 4096 * 4096
	page := make([]byte, 4096)
	for off := int64(0); off < half; off += 4096 {
		for _, at := range []int64{off, half + off} {
			f := a
			if at >= half {
				f = b
			}
			if _, err := f.ReadAt(page, at); err != nil {
				t.Fatalf("reading at %d: %v", at, err)
			}
		}
	}
	st := r.Stats()
	pages := fi.Size() / 4096
	t.Logf("%d pages of %d bytes: %d pages read from groups, %d groups decoded (%.3f a page read)",
		pages, fi.Size(), st.GroupPageReads, st.GroupDecodes, float64(st.GroupDecodes)/float64(st.GroupPageReads))
	if st.GroupPageReads < pages/2 {
		t.Fatalf("only %d of %d pages were read from groups: the test needs the database in groups", st.GroupPageReads, pages)
	}
	// At most one decompression per store.GroupPages pages (a first
	// backup's groups are full but for a run's last), and a few more for
	// groups not full or read at their edges.
	if limit := st.GroupPageReads/store.GroupPages + 4; st.GroupDecodes > limit {
		t.Errorf("%d groups decoded for %d pages read, want at most %d", st.GroupDecodes, st.GroupPageReads, limit)
	}
}
