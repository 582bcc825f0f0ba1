package prune_test

import (
	"fmt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/store"
)

// TestClockJumpsBack: the machine's clock goes back (a dead RTC battery
// sets it to 2000) for two backups and is then fixed. Snapshots are
// ordered by sequence, not by time: the newest is the last committed,
// restore "latest" gives it, retention keeps by sequence, and prune and
// restore work on every kept snapshot.
func TestClockJumpsBack(t *testing.T) {
	e := storetest.NewEnv(t)
	digests := map[string]map[string]string{}
	var seqs []store.Snapshot
	cycle := func(i int) {
		t.Helper()
		storetest.WriteFile(t, filepath.Join(e.Src, "notes", fmt.Sprintf("n%d.txt", i)), []byte(fmt.Sprintf("note %d", i)))
		res, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src})
		if err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		digests[res.Snapshot.IDString()] = storetest.DirDigest(t, e.Src, nil)
		seqs = append(seqs, res.Snapshot)
	}
	cycle(0)
	cycle(1)
	// Inside a synctest bubble time.Now is 2000-01-01 UTC: a real backward
	// jump of the clock the backup reads, for cycles 2 and 3.
	synctest.Test(t, func(t *testing.T) {
		cycle(2)
		time.Sleep(time.Hour)
		cycle(3)
	})
	cycle(4)
	if _, err := e.Store.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	if y := seqs[2].Time.Year(); y != 2000 || !seqs[3].Time.After(seqs[2].Time) || !seqs[2].Time.Before(seqs[1].Time) {
		t.Fatalf("the clock did not jump back: snapshot times %v", times(seqs))
	}

	snaps := e.Store.Snapshots()
	for i, s := range snaps {
		if s.ID != seqs[i].ID || (i > 0 && s.Seq <= snaps[i-1].Seq) {
			t.Fatalf("snapshots not in commit order: %v", times(snaps))
		}
	}
	// Latest is the last committed, although another has a later time.
	dst, err := e.RestoreFresh("latest")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(storetest.DirDigest(t, dst, nil)), fmt.Sprint(digests[seqs[4].IDString()]); got != want {
		t.Fatalf("restore latest gave another snapshot:\n got %s\nwant %s", got, want)
	}

	// Retention counts by sequence: keep_last 3 keeps 2, 3 and 4, whatever
	// their times say; an hourly rule counts the 2000 hours as hours.
	expect := func(p prune.Policy, want ...int) {
		t.Helper()
		var kept []int
		for _, d := range prune.ApplyPolicy(e.Store.Snapshots(), p) {
			if d.Keep {
				for i, s := range seqs {
					if s.ID == d.Snapshot.ID {
						kept = append(kept, i)
					}
				}
			}
		}
		if fmt.Sprint(kept) != fmt.Sprint(want) {
			t.Fatalf("%+v keeps %v, want %v (times %v)", p, kept, want, times(seqs))
		}
	}
	expect(prune.Policy{KeepLast: 3}, 4, 3, 2)
	expect(prune.Policy{KeepLast: 1, KeepHourly: 2}, 4, 3)
	decisions := prune.ApplyPolicy(e.Store.Snapshots(), prune.Policy{KeepLast: 1})
	if decisions[0].Snapshot.ID != seqs[4].ID || !decisions[0].Keep {
		t.Fatalf("the newest snapshot is not first and kept: %+v", decisions[0])
	}

	res, err := prune.Run(e.Ctx, e.Store, prune.Options{Policy: prune.Policy{KeepLast: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Forgotten != 2 {
		t.Fatalf("prune forgot %d snapshots, want 2", res.Forgotten)
	}
	r, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := check.Run(e.Ctx, r, check.Options{ReadData: true}); err != nil {
		t.Fatalf("check after prune: %v", err)
	}
	after := r.Snapshots()
	if len(after) != 3 {
		t.Fatalf("%d snapshots after prune, want 3", len(after))
	}
	for i, s := range after {
		if s.ID != seqs[i+2].ID {
			t.Fatalf("after prune: %v, want snapshots 2, 3, 4", times(after))
		}
		restoreEquals(t, e, s, digests[s.IDString()])
	}
	// The next backup follows the newest sequence, not the newest time.
	cycle(5)
	if seqs[5].Seq <= seqs[4].Seq || e.Store.Snapshots()[len(e.Store.Snapshots())-1].ID != seqs[5].ID {
		t.Fatalf("backup after the jump: seq %d after %d", seqs[5].Seq, seqs[4].Seq)
	}
}

func times(snaps []store.Snapshot) []string {
	var out []string
	for _, s := range snaps {
		out = append(out, fmt.Sprintf("seq %d at %s", s.Seq, s.Time.Format(time.RFC3339)))
	}
	return out
}
