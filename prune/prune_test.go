package prune_test

import (
	"errors"
	"fmt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/store"
)

// fortyCycles backs up 40 small changes, deleting a few media files on the
// way, and returns the snapshots' source digests by id.
func fortyCycles(t *testing.T, e *storetest.Env) map[string]map[string]string {
	t.Helper()
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
	db.Insert(0, 2000, 500)
	for i := 0; i < 6; i++ {
		storetest.WriteFile(t, filepath.Join(e.Src, "Media", fmt.Sprintf("IMG-%d.jpg", i)), append([]byte{0xff, 0xd8, 0xff}, storetest.RandBytes(uint64(100+i), 200<<10)...))
	}
	digests := map[string]map[string]string{}
	for c := 0; c < 40; c++ {
		db.Insert(2000+c*10, 2010+c*10, 10)
		if _, err := db.DB.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			t.Fatal(err)
		}
		storetest.WriteFile(t, filepath.Join(e.Src, "notes", fmt.Sprintf("n%d.txt", c)), []byte(fmt.Sprintf("note %d", c)))
		if c == 10 || c == 20 {
			// Media deleted from the chat (kept snapshots will no longer hold them).
			for _, i := range []int{c / 10 * 2, c/10*2 + 1} {
				if err := os.Remove(filepath.Join(e.Src, "Media", fmt.Sprintf("IMG-%d.jpg", i))); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Scattered edits too, so database versions are stored as patches.
		if _, err := db.DB.Exec("UPDATE messages SET body = body || '!' WHERE id % 97 = ?", c); err != nil {
			t.Fatal(err)
		}
		res := e.Backup()
		d := storetest.DirDigest(t, e.Src, nil)
		d["__db"] = storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
		digests[res.Snapshot.IDString()] = d
	}
	return digests
}

func restoreEquals(t *testing.T, e *storetest.Env, snap store.Snapshot, want map[string]string) {
	t.Helper()
	dst, err := e.RestoreFresh(snap.IDString())
	if err != nil {
		t.Fatalf("restore %s: %v", snap.ShortID(), err)
	}
	got := storetest.DirDigest(t, dst, nil)
	if _, ok := want["__db"]; ok {
		got["__db"] = storetest.DBDigest(t, filepath.Join(dst, "msgstore.db"))
	}
	for k, v := range want {
		// WAL/SHM companions are never stored; the database file differs
		// byte-wise (its header), its rows are compared as __db.
		if k == "msgstore.db-wal" || k == "msgstore.db-shm" || k == "msgstore.db" {
			continue
		}
		if got[k] != v {
			t.Errorf("snapshot %s: %s restored as %q, want %q", snap.ShortID(), k, got[k], v)
		}
	}
}

func TestPruneFortyCycles(t *testing.T) {
	e := storetest.NewEnv(t)
	digests := fortyCycles(t, e)
	before := len(storetest.DeltaFiles(t, e.RemoteDir))
	sizeBefore := storetest.RemoteSize(t, e.RemoteDir)
	res, err := prune.Run(e.Ctx, e.Store, prune.Options{Policy: prune.Policy{KeepLast: 3}})
	if err != nil {
		t.Fatal(err)
	}
	objects := len(storetest.DeltaFiles(t, e.RemoteDir)) + 1 // + config
	t.Logf("prune: %d deltas before, %d objects after; forgot %d, rewrote %d, wrote %d, deleted %d; %d -> %d bytes",
		before, objects, res.Forgotten, res.Rewritten, res.Written, res.Deleted, sizeBefore, storetest.RemoteSize(t, e.RemoteDir))
	if before != 40 || objects > 16 {
		t.Fatalf("%d deltas before, %d objects after prune; want 40 and at most 16", before, objects)
	}
	if res.Forgotten != 37 {
		t.Fatalf("forgot %d snapshots, want 37", res.Forgotten)
	}
	// Deleted media are gone: the remote shrank by at least their size.
	if shrink := sizeBefore - storetest.RemoteSize(t, e.RemoteDir); shrink < 4*200<<10 {
		t.Fatalf("remote shrank by %d bytes; the 4 deleted media files were 800 KiB", shrink)
	}
	r, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check.Run(e.Ctx, r, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check after prune: %v", err)
	}
	snaps := r.Snapshots()
	if len(snaps) != 3 {
		t.Fatalf("%d snapshots after prune, want 3", len(snaps))
	}
	restoreEquals(t, e, snaps[2], digests[snaps[2].IDString()])
	restoreEquals(t, e, snaps[0], digests[snaps[0].IDString()])
	// Backups go on after a prune, and a second prune is a no-op.
	storetest.WriteFile(t, filepath.Join(e.Src, "after.txt"), []byte("after prune"))
	e.Backup()
	if _, err := check.Run(e.Ctx, e.Store, check.Options{ReadData: true}); err != nil {
		t.Fatal(err)
	}
}

func TestPruneCrashPoints(t *testing.T) {
	for _, point := range []string{"prune:written", "prune:uploaded", "prune:deleted-one"} {
		t.Run(point, func(t *testing.T) {
			e := storetest.NewEnv(t)
			digests := fortyCycles(t, e)
			crash := errors.New("simulated crash at " + point)
			faults.Hook = func(p string) error {
				if p == point {
					return crash
				}
				return nil
			}
			_, err := prune.Run(e.Ctx, e.Store, prune.Options{Policy: prune.Policy{KeepLast: 3}})
			faults.Hook = nil
			if !errors.Is(err, crash) {
				t.Fatalf("prune: %v, want the simulated crash", err)
			}
			// After the "crash": the remote as it is must check and restore.
			e.Store.Close()
			r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State})
			if err != nil {
				t.Fatalf("open after crash: %v", err)
			}
			defer r.Close()
			e.Store = r
			snaps := r.Snapshots()
			newest := snaps[len(snaps)-1]
			restoreEquals(t, e, newest, digests[newest.IDString()])
			// The next run (it also uploads whatever the crash left in the spool) completes.
			if _, err := prune.Run(e.Ctx, r, prune.Options{Policy: prune.Policy{KeepLast: 3}}); err != nil {
				t.Fatalf("prune after crash: %v", err)
			}
			fresh, err := e.OpenFresh(e.Key)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := check.Run(e.Ctx, fresh, check.Options{ReadData: true}); err != nil {
				t.Fatalf("check: %v", err)
			}
			if n := len(storetest.DeltaFiles(t, e.RemoteDir)) + 1; n > 16 {
				t.Fatalf("%d objects after the second prune", n)
			}
			for _, s := range fresh.Snapshots() {
				restoreEquals(t, e, s, digests[s.IDString()])
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	// Buckets are in local time; pin it so the expectations hold anywhere.
	defer func(l *time.Location) { time.Local = l }(time.Local)
	time.Local = time.UTC
	var snaps []store.Snapshot
	base := mustTime(t, "2026-01-01T00:00:00Z")
	// One snapshot every 6 hours for 60 days.
	for i := 0; i < 240; i++ {
		snaps = append(snaps, store.Snapshot{Seq: uint64(i + 1), Time: base.Add(timeHours(6 * i))})
	}
	count := func(p prune.Policy) int {
		n := 0
		for _, d := range prune.ApplyPolicy(snaps, p) {
			if d.Keep {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		p    prune.Policy
		want int
	}{
		{prune.Policy{KeepLast: 5}, 5},
		{prune.Policy{KeepDaily: 7}, 7},
		{prune.Policy{KeepLast: 2, KeepDaily: 7}, 8}, // the newest is both last and daily
		{prune.Policy{KeepMonthly: 12}, 3},           // Jan, Feb, Mar 2026
		{prune.Policy{KeepDaily: -1}, 60},
		{prune.Policy{}, 240},
	} {
		if got := count(tc.p); got != tc.want {
			t.Errorf("%+v keeps %d, want %d", tc.p, got, tc.want)
		}
	}
}
