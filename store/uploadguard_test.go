package store_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// TestUploadRetryDoesNotFillAGoneRemote: a backup commits while both
// remotes hold the repository, but its upload to one of them fails (the
// remote is out of reach). Before the retry, that remote's folder is
// emptied (a NAS share unmounted: the mount point is an empty directory
// again). The retry must not write into it (a delta and no config there
// is a half repository, on the disk under the mount point): it reports
// ErrRepositoryGone naming the remote, the delta stays in the spool, and
// once the folder is back (or the user reseeds it) the delta goes up.
// The first remote's case is the guard's (stillHolder); a second remote's
// empty listing already asked for the config before it, and its case
// stays as the same promise kept for every remote.
func TestUploadRetryDoesNotFillAGoneRemote(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target int // which remote's upload fails and whose folder goes
	}{{"first remote", 0}, {"second remote", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuardRepo(t, tc.target)
			storetest.WriteFile(t, filepath.Join(g.src, "b.txt"), []byte("committed, not uploaded"))
			if _, err := backup.Run(t.Context(), g.s, backup.Options{Source: g.src}); err != nil {
				t.Fatal(err)
			}
			g.down.Store(true)
			if _, err := g.s.Sync(t.Context()); !errors.Is(err, remotes.ErrUnreachable) {
				t.Fatalf("sync while %s is out of reach: %v", g.name(), err)
			}
			if n := len(spooled(t, g.state)); n != 1 {
				t.Fatalf("%d deltas spooled after the failed upload, want 1", n)
			}
			away := g.unmount(t)
			g.down.Store(false)

			_, err := g.s.Sync(t.Context())
			if !errors.Is(err, store.ErrRepositoryGone) || !strings.Contains(err.Error(), `"`+g.name()+`"`) {
				t.Errorf("the retry to a remote whose folder is empty: %v, want %v naming %q", err, store.ErrRepositoryGone, g.name())
			}
			if ents, _ := os.ReadDir(g.dirs[tc.target]); len(ents) != 0 {
				t.Errorf("the retry wrote into the emptied folder: %v", storetest.DeltaFiles(t, g.dirs[tc.target]))
			}
			if n := len(spooled(t, g.state)); n != 1 {
				t.Errorf("%d deltas spooled after the refused retry, want 1 (kept for later)", n)
			}
			if t.Failed() {
				t.FailNow()
			}
			if tc.target == 0 {
				g.mountAgain(t, away)
			} else if err := g.s.ReseedNamed([]string{g.name()}); err != nil {
				t.Fatal(err) // a new disk on purpose: filled again
			}
			if _, err := g.s.Sync(t.Context()); err != nil {
				t.Fatalf("sync once the folder is back: %v", err)
			}
			if n := len(spooled(t, g.state)); n != 0 {
				t.Errorf("%d deltas still spooled", n)
			}
			for i, dir := range g.dirs {
				if n := len(storetest.DeltaFiles(t, dir)); n != 2 {
					t.Errorf("remote %d holds %d deltas, want 2", i, n)
				}
			}
		})
	}
}

// TestUploadGuardAsksOncePerRound: the check that a remote still holds
// the repository costs one request a sync round and remote, however
// many deltas the round uploads.
func TestUploadGuardAsksOncePerRound(t *testing.T) {
	dirs := [2]string{t.TempDir(), t.TempDir()}
	var rems [2]*statCounter
	for i, dir := range dirs {
		rems[i] = &statCounter{Remote: storetest.OpenRemote(t, dir)}
	}
	key, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Init(t.Context(), rems[0], key, store.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetTargets([]*store.Target{store.NewTarget("r0", rems[0]), store.NewTarget("r1", rems[1])})
	src := t.TempDir()
	storetest.WriteFile(t, filepath.Join(src, "a.txt"), []byte("first"))
	if _, err := backup.Run(t.Context(), s, backup.Options{Source: src}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sync(t.Context()); err != nil { // seeds r1
		t.Fatal(err)
	}
	for i := range 3 {
		storetest.WriteFile(t, filepath.Join(src, "a.txt"), []byte{'v', byte('0' + i)})
		if _, err := backup.Run(t.Context(), s, backup.Options{Source: src}); err != nil {
			t.Fatal(err)
		}
	}
	for _, rem := range rems {
		rem.stats.Store(0)
		rem.puts.Store(0)
	}
	if _, err := s.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, rem := range rems {
		if p, st := rem.puts.Load(), rem.stats.Load(); p != 3 || st != 1 {
			t.Errorf("remote r%d: %d uploads and %d stats in one round, want 3 and 1", i, p, st)
		}
	}
}

// statCounter counts the Stats and Puts of a remote.
type statCounter struct {
	remotes.Remote
	stats, puts atomic.Int32
}

func (c *statCounter) Stat(ctx context.Context, name string) (remotes.ObjectInfo, error) {
	c.stats.Add(1)
	return c.Remote.Stat(ctx, name)
}

func (c *statCounter) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	c.puts.Add(1)
	return c.Remote.Put(ctx, name, r, size)
}

// guardRepo is a repository on two local remotes, r0 (the first) and r1,
// with one snapshot on both; remote target can be taken out of reach
// (down).
type guardRepo struct {
	src, state string
	dirs       [2]string
	target     int
	down       *atomic.Bool
	s          *store.Store
}

func newGuardRepo(t *testing.T, target int) *guardRepo {
	t.Helper()
	base := t.TempDir()
	g := &guardRepo{src: t.TempDir(), state: t.TempDir(), target: target, down: new(atomic.Bool)}
	var rems [2]remotes.Remote
	for i := range g.dirs {
		g.dirs[i] = filepath.Join(base, []string{"r0", "r1"}[i])
		rems[i] = storetest.OpenRemote(t, g.dirs[i])
	}
	rems[target] = remotes.Faulty(rems[target], remotes.FaultOptions{Down: g.down.Load})
	key, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if g.s, err = store.Init(t.Context(), rems[0], key, store.Options{StateDir: g.state}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.s.Close() })
	g.s.SetTargets([]*store.Target{store.NewTarget("r0", rems[0]), store.NewTarget("r1", rems[1])})
	storetest.WriteFile(t, filepath.Join(g.src, "a.txt"), []byte("on both"))
	if _, err := backup.Run(t.Context(), g.s, backup.Options{Source: g.src}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.s.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *guardRepo) name() string { return []string{"r0", "r1"}[g.target] }

// unmount moves the target's folder away and leaves an empty directory
// where it was, as an unmounted share's mount point; it returns where
// the folder went.
func (g *guardRepo) unmount(t *testing.T) string {
	t.Helper()
	dir := g.dirs[g.target]
	away := dir + ".away"
	if err := os.Rename(dir, away); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return away
}

// mountAgain puts the folder unmount moved away back.
func (g *guardRepo) mountAgain(t *testing.T, away string) {
	t.Helper()
	dir := g.dirs[g.target]
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(away, dir); err != nil {
		t.Fatal(err)
	}
}
