package store_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// offlineRepo is a repository on rclone's WebDAV server with one snapshot
// of a chat directory (a SQLite database and a photo) taken by a store
// with a state directory.
type offlineRepo struct {
	srv        *remotetest.Server
	key        crypt.Key
	src, state string
	db         *storetest.ChatDB
	rem        remotes.Remote
}

func newOfflineRepo(t *testing.T) *offlineRepo {
	t.Helper()
	o := &offlineRepo{srv: remotetest.StartWebDAV(t, t.TempDir()), src: t.TempDir(), state: t.TempDir()}
	var err error
	if o.key, err = crypt.NewKey(); err != nil {
		t.Fatal(err)
	}
	o.rem = openNetRemote(t, o.srv.Spec)
	r, err := store.Init(t.Context(), o.rem, o.key, o.opts())
	if err != nil {
		t.Fatal(err)
	}
	o.db = storetest.OpenChatDB(t, filepath.Join(o.src, "msgstore.db"))
	o.db.Insert(0, 500, 100)
	storetest.WriteFile(t, filepath.Join(o.src, "Media", "IMG-0001.jpg"), storetest.RandBytes(1, 200<<10))
	if _, err := backup.Run(t.Context(), r, backup.Options{Source: o.src}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.Close()
	return o
}

// opts are the options of this device's store.
func (o *offlineRepo) opts() store.Options {
	return store.Options{StateDir: o.state, DeviceID: [16]byte{1}, Hostname: "laptop"}
}

// openThenStop opens this device's store while the remote answers, then
// stops the remote; the store is closed when the test ends.
func (o *offlineRepo) openThenStop(t *testing.T) *store.Store {
	t.Helper()
	r, err := store.Open(t.Context(), o.rem, o.key, o.opts())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	o.srv.Stop()
	return r
}

// change makes the next backup commit something new.
func (o *offlineRepo) change(t *testing.T, from int) {
	t.Helper()
	o.db.Insert(from, from+100, 50)
	storetest.WriteFile(t, filepath.Join(o.src, "Media", "IMG-late.jpg"), storetest.RandBytes(uint64(from), 50<<10))
}

func spooled(t *testing.T, state string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(state, "repo-*", "spool", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBackupCommitsWhileRemoteUnreachable: a store opened while its
// remote answered keeps backing up when the remote goes out of reach: the
// backup commits into the spool (on the head it loaded), and the deltas
// go up once the remote is back.
func TestBackupCommitsWhileRemoteUnreachable(t *testing.T) {
	o := newOfflineRepo(t)
	r := o.openThenStop(t)
	o.change(t, 500)
	res, err := backup.Run(t.Context(), r, backup.Options{Source: o.src})
	if err != nil {
		t.Fatalf("a backup while the remote is out of reach: %v", err)
	}
	if res.Unchanged || len(spooled(t, o.state)) != 1 {
		t.Fatalf("the backup committed %+v, spool %v", res.Snapshot, spooled(t, o.state))
	}
	if _, err := r.Sync(t.Context()); !errors.Is(err, remotes.ErrUnreachable) {
		t.Fatalf("a sync while the remote is out of reach: %v", err)
	}
	o.srv.Start()
	if _, err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := spooled(t, o.state); len(s) != 0 {
		t.Fatalf("still spooled after the remote came back: %v", s)
	}
	restoredSame(t, o)
}

// restoredSame restores this device's newest snapshot from the remote as
// a new device would and compares it with the source, byte for byte.
func restoredSame(t *testing.T, o *offlineRepo) {
	t.Helper()
	fresh, err := store.Open(t.Context(), openNetRemote(t, o.srv.Spec), o.key, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, s := range fresh.Snapshots() {
		if s.Device == o.opts().DeviceID {
			id = s.IDString()
		}
	}
	dst := filepath.Join(t.TempDir(), "out")
	if _, err := restore.Run(t.Context(), fresh, restore.Options{Snapshot: id, Target: dst}); err != nil {
		t.Fatal(err)
	}
	notDB := func(rel string) bool { return strings.HasPrefix(rel, "msgstore.db") }
	want, got := storetest.DirDigest(t, o.src, notDB), storetest.DirDigest(t, dst, notDB)
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Fatalf("restored files %v, want %v", got, want)
	}
	if a, b := storetest.DBDigest(t, filepath.Join(o.src, "msgstore.db")), storetest.DBDigest(t, filepath.Join(dst, "msgstore.db")); a != b {
		t.Fatal("the restored database differs from the source")
	}
}

// TestOpenFromState: a store opens from its state directory while the
// remote is out of reach, with the snapshots it saw; backups commit into
// the spool; once the remote is back the first sync checks them and
// uploads them, and a new device restores the newest byte for byte.
func TestOpenFromState(t *testing.T) {
	o := newOfflineRepo(t)
	o.srv.Stop()
	if _, err := store.Open(t.Context(), o.rem, o.key, o.opts()); !errors.Is(err, remotes.ErrUnreachable) {
		t.Fatalf("a normal open with the remote out of reach: %v", err)
	}
	r, err := store.OpenFromState(t.Context(), o.rem, o.key, o.opts())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n := len(r.Snapshots()); n != 1 {
		t.Fatalf("opened from the state with %d snapshots, want 1", n)
	}
	for i := range 2 {
		o.change(t, 600+100*i)
		if res, err := backup.Run(t.Context(), r, backup.Options{Source: o.src}); err != nil || res.Unchanged {
			t.Fatalf("backup %d from the state: %v %+v", i, err, res)
		}
	}
	if st, ok := r.Offline(); !ok || !st.FromState || st.Snapshots != 2 {
		t.Fatalf("Offline() = %+v %v, want from the state with 2 snapshots", st, ok)
	}
	if _, err := r.Sync(t.Context()); !errors.Is(err, remotes.ErrUnreachable) {
		t.Fatalf("a sync while the remote is out of reach: %v", err)
	}
	if n := len(storetest.DeltaFiles(t, o.srv.ObjectsDir())); n != 1 {
		t.Fatalf("%d deltas on the remote while it was out of reach", n)
	}
	o.srv.Start()
	if _, err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Offline(); ok || len(spooled(t, o.state)) != 0 {
		t.Fatalf("after the sync: offline %v, spool %v", ok, spooled(t, o.state))
	}
	restoredSame(t, o)
}

// TestOpenFromStateNeedsState: without an earlier open's state (a new
// state directory, or one that never saw a head), opening from the state
// fails with ErrNoOfflineState, as does one with a trailer of the head's
// history missing from the cache.
func TestOpenFromStateNeedsState(t *testing.T) {
	o := newOfflineRepo(t)
	o.srv.Stop()
	opts := o.opts()
	opts.StateDir = t.TempDir()
	if _, err := store.OpenFromState(t.Context(), o.rem, o.key, opts); !errors.Is(err, store.ErrNoOfflineState) {
		t.Fatalf("opening from an empty state directory: %v", err)
	}
	trailers, err := filepath.Glob(filepath.Join(o.state, "repo-*", "trailers", "*"))
	if err != nil || len(trailers) == 0 {
		t.Fatalf("no cached trailers: %v", err)
	}
	if err := os.Remove(trailers[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenFromState(t.Context(), o.rem, o.key, o.opts()); !errors.Is(err, store.ErrNoOfflineState) {
		t.Fatalf("opening from a state without the head's trailer: %v", err)
	}
}

// TestOfflineBackupTakenOver: while this device backed up from its state,
// another device committed on the remote. The first sync once the remote
// is back finds it: this device is taken over, uploads nothing, and its
// offline deltas stay in the spool; opened again, its snapshots show as a
// branch of a fork, which fork resolve merges and uploads.
func TestOfflineBackupTakenOver(t *testing.T) {
	o := newOfflineRepo(t)
	o.srv.Stop()
	r, err := store.OpenFromState(t.Context(), o.rem, o.key, o.opts())
	if err != nil {
		t.Fatal(err)
	}
	o.change(t, 600)
	if res, err := backup.Run(t.Context(), r, backup.Options{Source: o.src}); err != nil || res.Unchanged {
		t.Fatalf("backup from the state: %v %+v", err, res)
	}
	offline := spooled(t, o.state)

	o.srv.Start()
	o.phoneCommits(t, 1).Close()
	onRemote := storetest.DeltaFiles(t, o.srv.ObjectsDir())

	_, err = r.Sync(t.Context())
	var to *store.TakenOverError
	if !errors.As(err, &to) || to.Hostname != "phone" {
		t.Fatalf("the sync after another device committed: %v, want taken over by phone", err)
	}
	if got := storetest.DeltaFiles(t, o.srv.ObjectsDir()); fmt.Sprint(got) != fmt.Sprint(onRemote) {
		t.Fatalf("the remote holds %v after the refused sync, want %v", got, onRemote)
	}
	if _, err := backup.Run(t.Context(), r, backup.Options{Source: o.src}); !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("a backup after the take-over: %v", err)
	}
	r.Close()
	if got := spooled(t, o.state); fmt.Sprint(got) != fmt.Sprint(offline) {
		t.Fatalf("the spool holds %v, want the offline deltas %v", got, offline)
	}

	// Opened again with the remote: the offline snapshot is a branch.
	r, err = store.Open(t.Context(), o.rem, o.key, o.opts())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Fork() == nil || len(r.Snapshots()) != 3 {
		t.Fatalf("reopened: fork %v, %d snapshots, want a fork with 3", r.Fork(), len(r.Snapshots()))
	}
	if _, err := r.Sync(t.Context()); !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("a sync reopened: %v", err)
	}
	if n := len(storetest.DeltaFiles(t, o.srv.ObjectsDir())); n != len(onRemote) {
		t.Fatalf("%d deltas on the remote after the sync reopened, want %d", n, len(onRemote))
	}
	// fork resolve merges both branches: every snapshot is kept, and the
	// offline deltas go up with the merge.
	var mine string
	for _, b := range r.Fork().Branches {
		if b.Hostname == "laptop" {
			mine = b.DeltaIDString()
		}
	}
	if _, err := r.ResolveFork(t.Context(), mine); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(t.Context()); err != nil {
		t.Fatalf("the sync after fork resolve: %v", err)
	}
	if s := spooled(t, o.state); len(s) != 0 {
		t.Fatalf("still spooled after fork resolve and a sync: %v", s)
	}
	fresh, err := store.Open(t.Context(), openNetRemote(t, o.srv.Spec), o.key, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Fork() != nil || len(fresh.Snapshots()) != 3 {
		t.Fatalf("a new device sees fork %v and %d snapshots, want 3 merged", fresh.Fork(), len(fresh.Snapshots()))
	}
	restoredSame(t, o)
}

// TestOfflineNeedsNoCommitPoint: with a commit point (the vault), a
// commit needs it, so a backup does not commit past a remote out of
// reach, and a store does not open from the state: both as before.
func TestOfflineNeedsNoCommitPoint(t *testing.T) {
	o := newOfflineRepo(t)
	opts := o.opts()
	opts.CommitGuard = &memGuard{}
	r, err := store.Open(t.Context(), o.rem, o.key, opts)
	if err != nil {
		t.Fatal(err)
	}
	o.srv.Stop()
	o.change(t, 500)
	if _, err := backup.Run(t.Context(), r, backup.Options{Source: o.src}); !errors.Is(err, remotes.ErrUnreachable) {
		t.Fatalf("a backup with a commit point while the remote is out of reach: %v", err)
	}
	if s := spooled(t, o.state); len(s) != 0 {
		t.Fatalf("spooled with a commit point while the remote is out of reach: %v", s)
	}
	r.Close()
	if _, err := store.OpenFromState(t.Context(), o.rem, o.key, opts); !errors.Is(err, store.ErrNoOfflineState) {
		t.Fatalf("opening from the state with a commit point: %v", err)
	}
}

// TestOfflineBackupRemoteChangedMeanwhile: what a store opened from its
// state backed up is not uploaded when the remote, once back, is not the
// one it left: the delta its history rests on deleted (a rollback), or
// the config replaced (another repository, a rotated key). The deltas
// stay in the spool.
func TestOfflineBackupRemoteChangedMeanwhile(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		change     func(t *testing.T, o *offlineRepo)
	}{
		{"delta deleted", "missing from the remote", func(t *testing.T, o *offlineRepo) {
			for _, p := range storetest.DeltaFiles(t, o.srv.ObjectsDir()) {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"config replaced", "not the one this device cached", func(t *testing.T, o *offlineRepo) {
			dir := t.TempDir()
			other, err := store.Init(t.Context(), storetest.OpenRemote(t, dir), o.key, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			other.Close()
			b, err := os.ReadFile(filepath.Join(dir, "config"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(o.srv.ObjectsDir(), "config"), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOfflineRepo(t)
			o.srv.Stop()
			r, err := store.OpenFromState(t.Context(), o.rem, o.key, o.opts())
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			o.change(t, 600)
			if res, err := backup.Run(t.Context(), r, backup.Options{Source: o.src}); err != nil || res.Unchanged {
				t.Fatalf("backup from the state: %v %+v", err, res)
			}
			offline := spooled(t, o.state)
			tc.change(t, o)
			before := storetest.DeltaFiles(t, o.srv.ObjectsDir())
			o.srv.Start()
			if _, err := r.Sync(t.Context()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("the sync to a remote changed meanwhile: %v, want %q", err, tc.want)
			}
			if got := storetest.DeltaFiles(t, o.srv.ObjectsDir()); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Fatalf("the remote holds %v after the refused sync, want %v", got, before)
			}
			if got := spooled(t, o.state); fmt.Sprint(got) != fmt.Sprint(offline) {
				t.Fatalf("the spool holds %v, want %v", got, offline)
			}
		})
	}
}

// TestOfflineBackupCheckedBeforeRotation: a key rotation re-seals the
// live deltas and uploads them; what was backed up while the remote was
// out of reach (here, after the store opened) is checked
// first, so two offline deltas over another device's one (which the
// commit check, looking from this device's head on, would not see) stop
// the rotation as taken over, with nothing written to the remote.
func TestOfflineBackupCheckedBeforeRotation(t *testing.T) {
	o := newOfflineRepo(t)
	r := o.openThenStop(t)
	for i := range 2 {
		o.change(t, 600+100*i)
		if res, err := backup.Run(t.Context(), r, backup.Options{Source: o.src}); err != nil || res.Unchanged {
			t.Fatalf("backup %d from the state: %v %+v", i, err, res)
		}
	}
	o.srv.Start()
	o.phoneCommits(t, 1).Close()
	before := storetest.DeltaFiles(t, o.srv.ObjectsDir())
	newKey, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	unlock := r.Exclusive()
	err = r.ResealTo(t.Context(), newKey, []remotes.Remote{o.rem})
	unlock()
	if !errors.Is(err, store.ErrTakenOver) {
		t.Fatalf("rotating the key over another device's delta: %v", err)
	}
	if got := storetest.DeltaFiles(t, o.srv.ObjectsDir()); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("the remote holds %v after the refused rotation, want %v", got, before)
	}
}
