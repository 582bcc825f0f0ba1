package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/store"
)

// TestJoinGapOutlivesRestart: B joined at A's sequence 1; A committed 2
// and 3; B's first write is a prune, not a backup, and B restarts before
// anything reported it. The next TakeJoinGap still names A's 2 and 3 (and
// the base B's chats came from), once; a device that joined at the head
// its first write continues gets none.
func TestJoinGapOutlivesRestart(t *testing.T) {
	e := storetest.NewEnv(t)
	note := filepath.Join(e.Src, "note.txt")
	storetest.WriteFile(t, note, []byte("a1"))
	base := e.Backup().Snapshot

	bOpts := store.Options{StateDir: t.TempDir(), DeviceID: [16]byte{0xb}, Hostname: "laptop"}
	b, err := store.Open(e.Ctx, e.Remote, e.Key, bOpts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.JoinedAt(base.Seq); err != nil {
		t.Fatal(err)
	}
	b.Close()
	storetest.WriteFile(t, note, []byte("a2"))
	e.Backup()
	storetest.WriteFile(t, note, []byte("a3"))
	a3 := e.Backup().Snapshot

	if b, err = store.Open(e.Ctx, e.Remote, e.Key, bOpts); err != nil {
		t.Fatal(err)
	}
	if g := b.TakeJoinGap(); g != nil {
		t.Fatalf("a gap before B wrote anything: %v", g)
	}
	if _, err := prune.Run(e.Ctx, b, prune.Options{Policy: prune.Policy{KeepLast: 10}}); err != nil {
		t.Fatal(err)
	}
	b.Close()

	if b, err = store.Open(e.Ctx, e.Remote, e.Key, bOpts); err != nil {
		t.Fatal(err)
	}
	g := b.TakeJoinGap()
	if g == nil || g.JoinSeq != 1 || g.HeadSeq != 3 || len(g.Snapshots) != 2 || g.Newest().ID != a3.ID || g.Base.ID != base.ID {
		t.Fatalf("B's gap after its prune and a restart: %+v", g)
	}
	for _, want := range []string{"joined at sequence 1", "sequences 2 to 3", "chatsafe diff " + base.ShortID() + " " + a3.ShortID(), "chatsafe restore --snapshot " + a3.ShortID()} {
		if !strings.Contains(g.String(), want) {
			t.Errorf("the warning does not say %q: %s", want, g)
		}
	}
	if g := b.TakeJoinGap(); g != nil {
		t.Fatalf("the gap was reported twice: %v", g)
	}
	b.Close()
	if b, err = store.Open(e.Ctx, e.Remote, e.Key, bOpts); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if g := b.TakeJoinGap(); g != nil {
		t.Fatalf("the gap came back after a restart: %v", g)
	}

	// C joins at the head and writes on it: nothing moved, and the join
	// point is done with.
	cState := t.TempDir()
	c, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: cState, DeviceID: [16]byte{0xc}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.JoinedAt(0); err != nil {
		t.Fatal(err)
	}
	joins, _ := filepath.Glob(filepath.Join(cState, "repo-*", "join.json"))
	if len(joins) != 1 {
		t.Fatalf("C's join point: %v", joins)
	}
	res, err := backup.Run(e.Ctx, c, backup.Options{Source: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Unchanged || res.JoinGap != nil {
		t.Fatalf("C joined at the head it wrote on: unchanged %v, gap %v", res.Unchanged, res.JoinGap)
	}
	if _, err := os.Stat(joins[0]); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("C's join point after its first write: %v", err)
	}
}
