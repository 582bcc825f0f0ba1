package backup_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// treeCounter is a real store that counts the trees read through it.
type treeCounter struct {
	*store.Store
	mu    sync.Mutex
	reads map[crypt.ID]int
	fail  error // when set, every read fails with it (a remote out of reach)
}

func (c *treeCounter) Tree(ctx context.Context, id crypt.ID) ([]store.Node, error) {
	c.mu.Lock()
	c.reads[id]++
	c.mu.Unlock()
	if c.fail != nil {
		return nil, c.fail
	}
	return c.Store.Tree(ctx, id)
}

// TestUnreadableFilesReadParentTreesOnce: files that cannot be read and
// that the file cache does not know keep their version from the previous
// snapshot, found in its trees. However many there are, each tree on
// their paths is read once per backup, not once a file.
func TestUnreadableFilesReadParentTreesOnce(t *testing.T) {
	e := storetest.NewEnv(t)
	var paths []string
	for _, dir := range []string{"Media/Images/2026", "Media/Video"} {
		for i := range 30 {
			p := fmt.Sprintf("%s/IMG-%02d.jpg", dir, i)
			storetest.WriteFile(t, filepath.Join(e.Src, filepath.FromSlash(p)), storetest.RandBytes(uint64(len(paths)), 100))
			paths = append(paths, p)
		}
	}
	storetest.WriteFile(t, filepath.Join(e.Src, "msgstore.db"), []byte("chats"))
	e.Backup()

	c := &treeCounter{Store: e.Store, reads: map[crypt.ID]int{}}
	if kept := backup.KeepUnreadableFiles(e.Ctx, c, paths); kept != len(paths) {
		t.Fatalf("%d of %d unreadable files kept their stored version", kept, len(paths))
	}
	// The root, Media, Images, 2026 and Video.
	total := 0
	for id, n := range c.reads {
		if n != 1 {
			t.Errorf("tree %s read %d times, want once", id, n)
		}
		total += n
	}
	if total != 5 {
		t.Fatalf("%d tree reads for %d files in 5 directories, want 5", total, len(paths))
	}

	// A tree that cannot be read (each read may retry for retry_for) is
	// tried once too: the files keep nothing, and the root was asked once.
	c = &treeCounter{Store: e.Store, reads: map[crypt.ID]int{}, fail: errors.New("remote out of reach")}
	if kept := backup.KeepUnreadableFiles(e.Ctx, c, paths); kept != 0 {
		t.Fatalf("%d unreadable files kept a version no tree could give", kept)
	}
	if len(c.reads) != 1 || c.reads[e.Store.Snapshots()[0].Tree] != 1 {
		t.Fatalf("tree reads %v when every read fails, want the root's once", c.reads)
	}
}
