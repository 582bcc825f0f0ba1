package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/remotes"
)

func TestApplyPatch(t *testing.T) {
	ref := func(b byte) ChunkRef { return ChunkRef{ID: crypt.ID{b}, Len: 4096} }
	base := []ChunkRef{ref(1), ref(2), ref(3), ref(4)}
	for _, tc := range []struct {
		name    string
		total   int
		entries []patchEntry
		want    []ChunkRef
		bad     bool
	}{
		{"replace", 4, []patchEntry{{1, ref(9)}, {3, ref(8)}}, []ChunkRef{ref(1), ref(9), ref(3), ref(8)}, false},
		{"grow", 6, []patchEntry{{0, ref(7)}, {4, ref(5)}, {5, ref(6)}}, []ChunkRef{ref(7), ref(2), ref(3), ref(4), ref(5), ref(6)}, false},
		{"shrink", 2, nil, []ChunkRef{ref(1), ref(2)}, false},
		{"hole", 6, []patchEntry{{5, ref(6)}}, nil, true},
	} {
		total, entries, err := decodePatch(encodePatch(tc.total, tc.entries))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := applyPatch(base, total, entries)
		if tc.bad {
			if err == nil {
				t.Fatalf("%s: a patch with a hole was accepted", tc.name)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Fatalf("%s: %v %v", tc.name, got, err)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("%s: chunk %d is %v, want %v", tc.name, i, got[i], tc.want[i])
			}
		}
	}
	// A patch index beyond its total is malformed.
	bad := encodePatch(2, []patchEntry{{3, ref(1)}})
	if _, _, err := decodePatch(bad); err == nil {
		t.Fatal("decodePatch accepted an index beyond the file")
	}
}

// A file stored in lists gets small later versions as patches, the chain
// is rebased before it grows past maxPatchChain, and every version
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
	r, err := Init(ctx, rem, key, Options{StateDir: state})
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
		res, err := r.Backup(ctx, BackupOptions{Source: src})
		if err != nil {
			t.Fatal(err)
		}
		versions[res.Snapshot.ID] = append([]byte(nil), data...)
		nodes, err := r.loadTree(ctx, res.Snapshot.Tree)
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
	if maxChain < 2 || maxChain > maxPatchChain || !rebased {
		t.Fatalf("longest patch chain %d (limit %d), rebased %v", maxChain, maxPatchChain, rebased)
	}
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Forget most versions; the kept ones must still restore exactly.
	if _, err := r.Prune(ctx, PruneOptions{Policy: Policy{KeepLast: 5}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Check(ctx, CheckOptions{ReadData: true}); err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Snapshots() {
		dst := filepath.Join(t.TempDir(), "out")
		if _, err := r.Restore(ctx, RestoreOptions{Snapshot: s.IDString(), Target: dst}); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(filepath.Join(dst, "big.db"))
		if !bytes.Equal(got, versions[s.ID]) {
			t.Fatalf("snapshot %s restored wrong content", s.ShortID())
		}
	}
}
