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
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

var errUploadFailed = errors.New("simulated upload failure")

// failingRemote is a real remote whose failAt-th delta upload fails
// (after the remote took part of it, as a dropped connection leaves).
type failingRemote struct {
	remotes.Remote
	mu     sync.Mutex
	puts   int
	failAt int
}

func (f *failingRemote) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if strings.HasPrefix(name, "deltas/") {
		f.mu.Lock()
		f.puts++
		fail := f.puts == f.failAt
		f.mu.Unlock()
		if fail {
			_, _ = io.CopyN(io.Discard, r, size/2)
			return fmt.Errorf("putting %s: %w", name, errUploadFailed)
		}
	}
	return f.Remote.Put(ctx, name, r, size)
}

// spoolFiles lists the files in the spools under a state directory.
func spoolFiles(t *testing.T, state string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(state, "repo-*", "spool", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestRotateUploadFailureLeavesNothingSpooled: a re-sealed delta whose
// upload fails leaves no copy in the spool (sealed under a key nobody holds
// yet, it is of no use, and the old key cannot read it), while the old
// key's own delta waiting in the spool stays, and after undoing the
// rotation the old key restores everything.
func TestRotateUploadFailureLeavesNothingSpooled(t *testing.T) {
	for _, failAt := range []int{1, 3} {
		t.Run(fmt.Sprintf("upload %d fails", failAt), func(t *testing.T) {
			e := storetest.NewEnv(t)
			for i := range 12 {
				storetest.WriteFile(t, filepath.Join(e.Src, fmt.Sprintf("f%02d", i)), storetest.RandBytes(uint64(200+i), 100<<10))
			}
			e.Backup()
			// One more backup, not synced: its delta waits in the spool.
			storetest.WriteFile(t, filepath.Join(e.Src, "late.txt"), []byte("only in the spool"))
			if _, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src}); err != nil {
				t.Fatal(err)
			}
			pending := spoolFiles(t, e.State)
			if len(pending) != 1 {
				t.Fatalf("spool before the rotation: %v, want the one unsynced delta", pending)
			}
			want := storetest.DirDigest(t, e.Src, nil)
			e.Store.Close()

			r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, DeltaSizeCap: 256 << 10})
			if err != nil {
				t.Fatal(err)
			}
			oldHead := r.HeadSeq()
			newKey, _ := crypt.NewKey()
			f := &failingRemote{Remote: e.Remote, failAt: failAt}
			if err := r.ResealTo(e.Ctx, newKey, []remotes.Remote{f}); !errors.Is(err, errUploadFailed) {
				t.Fatalf("re-sealing with a failing upload: %v", err)
			}
			r.Close()
			if left := spoolFiles(t, e.State); len(left) != 1 || left[0] != pending[0] {
				t.Fatalf("spool after the failed rotation: %v, want only %v", left, pending)
			}
			if err := store.DropRotateWrites(e.Ctx, e.Remote, e.State, oldHead, newKey); err != nil {
				t.Fatal(err)
			}
			if left := spoolFiles(t, e.State); len(left) != 1 || left[0] != pending[0] {
				t.Fatalf("spool after undoing the rotation: %v, want only %v", left, pending)
			}
			r, err = store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if _, err := r.Sync(e.Ctx); err != nil {
				t.Fatal(err)
			}
			if !equalDigest(restoredWith(t, e, e.Key), want) {
				t.Fatal("the old key's restore after a failed rotation differs")
			}
		})
	}
}

// TestDropRotateWritesKeepsOtherRepositories: undoing a rotation of one
// repository leaves alone the spool of another one that shares the state
// directory, whatever its sequence numbers.
func TestDropRotateWritesKeepsOtherRepositories(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("x"))
	e.Backup()
	oldHead := e.Store.HeadSeq()

	// A second repository in the same state directory, two deltas ahead
	// and one of them still in its spool (opened once the first is
	// closed: one writer holds a state directory at a time).
	e.Store.Close()
	o, err := store.Init(e.Ctx, storetest.OpenRemote(t, t.TempDir()), randKey(), store.Options{StateDir: e.State})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	src := t.TempDir()
	for i := range 2 {
		storetest.WriteFile(t, filepath.Join(src, "b.txt"), []byte(fmt.Sprint("version ", i)))
		if _, err := backup.Run(e.Ctx, o, backup.Options{Source: src}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := o.Sync(e.Ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	theirs := spoolFiles(t, e.State)
	if len(theirs) != 1 {
		t.Fatalf("spool: %v, want the other repository's unsynced delta", theirs)
	}
	if err := store.DropRotateWrites(e.Ctx, e.Remote, e.State, oldHead, randKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(theirs[0]); err != nil {
		t.Fatalf("undoing a rotation of another repository removed a delta waiting for upload: %v", err)
	}
}

// TestRotateFailureAfterAFullDeltaLeavesNothingSpooled: when starting the
// next delta fails (a full disk) right after a full one was finished into
// the spool, that finished delta, sealed under the new key, does not stay
// in the spool either.
func TestRotateFailureAfterAFullDeltaLeavesNothingSpooled(t *testing.T) {
	e := storetest.NewEnv(t)
	for i := range 12 {
		storetest.WriteFile(t, filepath.Join(e.Src, fmt.Sprintf("f%02d", i)), storetest.RandBytes(uint64(300+i), 100<<10))
	}
	e.Backup()
	e.Store.Close()
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, DeltaSizeCap: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	errDiskFull := errors.New("simulated full disk")
	starts := 0
	faults.Hook = func(p string) error {
		if p == "rotate:new-delta" {
			if starts++; starts == 2 { // the first delta is full and finished
				return errDiskFull
			}
		}
		return nil
	}
	defer func() { faults.Hook = nil }()
	newKey, _ := crypt.NewKey()
	if err := r.ResealTo(e.Ctx, newKey, []remotes.Remote{e.Remote}); !errors.Is(err, errDiskFull) {
		t.Fatalf("re-sealing with the next delta failing to start: %v", err)
	}
	if left := spoolFiles(t, e.State); len(left) != 0 {
		t.Fatalf("spool after the failed rotation: %v, want nothing", left)
	}
}
