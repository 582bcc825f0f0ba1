package backup_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/prune"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// A file stored in lists gets small later versions as patches, the chain
// is rebased before it grows past the format's patch chain limit, and every version
// restores exactly.
func TestPatchedVersions(t *testing.T) {
	ctx := t.Context()
	src, state := t.TempDir(), t.TempDir()
	rem, err := remotes.Open(ctx, t.TempDir(), remotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rem.Close()
	key, _ := crypt.NewKey()
	r, err := store.Init(ctx, rem, key, store.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// An 8 MB file in ~125 content-defined chunks; each cycle changes two places.
	const pages = 2000
	data := make([]byte, pages*4096)
	for i := range data {
		data[i] = byte(i * 7 % 251)
	}
	path := filepath.Join(src, "big.db")
	versions := map[[16]byte][]byte{}
	maxChain, rebased := 0, false
	for cycle := 0; cycle < 45; cycle++ {
		for _, p := range []int{(cycle * 37) % pages, (cycle*91 + 5) % pages} {
			data[p*4096+cycle%4096] ^= 0xff
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		// A new mtime per cycle, so the scanner never trusts the cache.
		mt := time.Unix(int64(1700000000+cycle*10), 0)
		os.Chtimes(path, mt, mt)
		res, err := backup.Run(ctx, r, backup.Options{Source: src})
		if err != nil {
			t.Fatal(err)
		}
		versions[res.Snapshot.ID] = append([]byte(nil), data...)
		nodes, err := r.Tree(ctx, res.Snapshot.Tree)
		if err != nil || len(nodes) != 1 {
			t.Fatalf("tree: %v %v", nodes, err)
		}
		chain := len(nodes[0].Content.Patches)
		if cycle > 0 && chain == 0 {
			rebased = true
		}
		maxChain = max(maxChain, chain)
	}
	t.Logf("longest patch chain %d", maxChain)
	if maxChain < 2 || maxChain > store.MaxPatchChain || !rebased {
		t.Fatalf("longest patch chain %d (limit %d), rebased %v", maxChain, store.MaxPatchChain, rebased)
	}
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Forget most versions; the kept ones must still restore exactly.
	if _, err := prune.Run(ctx, r, prune.Options{Policy: prune.Policy{KeepLast: 5}}); err != nil {
		t.Fatal(err)
	}
	if _, err := check.Run(ctx, r, check.Options{ReadData: true}); err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Snapshots() {
		dst := filepath.Join(t.TempDir(), "out")
		if _, err := restore.Run(ctx, r, restore.Options{Snapshot: s.IDString(), Target: dst}); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(filepath.Join(dst, "big.db"))
		if !bytes.Equal(got, versions[s.ID]) {
			t.Fatalf("snapshot %s restored wrong content", s.ShortID())
		}
	}
}
