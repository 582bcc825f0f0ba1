package store_test

import (
	"errors"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/store"
)

// threeDeltas makes a repository with three deltas and returns their
// paths on the remote, oldest first.
func threeDeltas(t *testing.T) (*storetest.Env, []string) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte(strings.Repeat("first version ", 1000)))
	e.Backup()
	storetest.WriteFile(t, filepath.Join(e.Src, "b.bin"), storetest.RandBytes(5, 300<<10))
	e.Backup()
	storetest.WriteFile(t, filepath.Join(e.Src, "c.txt"), []byte("third"))
	e.Backup()
	d := storetest.DeltaFiles(t, e.RemoteDir)
	if len(d) != 3 {
		t.Fatalf("want 3 deltas, have %v", d)
	}
	return e, d
}

// wantIntegrity asserts err is an integrity failure naming object.
func wantIntegrity(t *testing.T, err error, object string) {
	t.Helper()
	var ie *store.IntegrityError
	if !errors.Is(err, store.ErrIntegrity) || !errors.As(err, &ie) {
		t.Fatalf("got %v, want an integrity failure", err)
	}
	if !strings.Contains(ie.Object, object) {
		t.Fatalf("integrity failure names %q, want %q", ie.Object, object)
	}
}

func rel(t *testing.T, e *storetest.Env, p string) string {
	r, err := filepath.Rel(e.RemoteDir, p)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.ToSlash(r)
}

func flipByte(t *testing.T, p string, off int64) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0x40
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTamperFlippedBlobByte(t *testing.T) {
	e, d := threeDeltas(t)
	// Byte 100 of the second delta lies in b.bin's first chunk.
	flipByte(t, d[1], 100)
	dst, err := e.RestoreFresh("")
	wantIntegrity(t, err, rel(t, e, d[1]))
	if _, err := os.Stat(filepath.Join(dst, "b.bin")); !os.IsNotExist(err) {
		t.Fatalf("a damaged file was restored: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dst, ".chatsafe-restore-*"))
	if len(leftovers) != 0 {
		t.Fatalf("temporary files left behind: %v", leftovers)
	}
	// The structure is intact, every byte is not.
	r, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check.Run(e.Ctx, r, check.Options{}); err != nil {
		t.Fatalf("structure check: %v", err)
	}
	_, err = check.Run(e.Ctx, r, check.Options{ReadData: true})
	wantIntegrity(t, err, rel(t, e, d[1]))
}

func TestTamperFlippedTrailerByte(t *testing.T) {
	e, d := threeDeltas(t)
	flipByte(t, d[2], -20)
	_, err := e.OpenFresh(e.Key)
	wantIntegrity(t, err, rel(t, e, d[2]))
}

func TestTamperTruncated(t *testing.T) {
	e, d := threeDeltas(t)
	fi, _ := os.Stat(d[1])
	if err := os.Truncate(d[1], fi.Size()-1); err != nil {
		t.Fatal(err)
	}
	_, err := e.OpenFresh(e.Key)
	wantIntegrity(t, err, rel(t, e, d[1]))
	if err := os.Truncate(d[1], fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	_, err = e.OpenFresh(e.Key)
	wantIntegrity(t, err, rel(t, e, d[1]))
}

func TestTamperSwapped(t *testing.T) {
	e, d := threeDeltas(t)
	tmp := d[0] + ".x"
	for _, mv := range [][2]string{{d[0], tmp}, {d[1], d[0]}, {tmp, d[1]}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.OpenFresh(e.Key)
	if !errors.Is(err, store.ErrIntegrity) {
		t.Fatalf("swapped deltas: %v", err)
	}
}

func TestTamperForeignObject(t *testing.T) {
	e, d := threeDeltas(t)
	other, od := threeDeltas(t)
	_ = other
	// The other repository's newest delta, renamed to look like our next one.
	base := filepath.Base(d[2])
	next := filepath.Join(e.RemoteDir, "deltas", "0000000000000004"+base[16:])
	b, _ := os.ReadFile(od[2])
	if err := os.WriteFile(next, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := e.OpenFresh(e.Key)
	wantIntegrity(t, err, rel(t, e, next))
	// Under its own name it is not part of our history, and is ignored.
	os.Remove(next)
	own := filepath.Join(e.RemoteDir, "deltas", filepath.Base(od[0]))
	if err := os.WriteFile(own, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatalf("an unlisted foreign delta broke the repository: %v", err)
	}
	res, err := check.Run(e.Ctx, r, check.Options{ReadData: true})
	if err != nil || len(res.Garbage) != 1 {
		t.Fatalf("check: %v, garbage %v", err, res.Garbage)
	}
}

func TestTamperNewestDeleted(t *testing.T) {
	e, d := threeDeltas(t)
	if err := os.Remove(d[2]); err != nil {
		t.Fatal(err)
	}
	// This device saw sequence 3: a rollback.
	e.Store.Close()
	_, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State})
	if !errors.Is(err, store.ErrRollback) {
		t.Fatalf("newest delta deleted: %v, want ErrRollback", err)
	}
}

func TestTamperMiddleDeleted(t *testing.T) {
	e, d := threeDeltas(t)
	if err := os.Remove(d[1]); err != nil {
		t.Fatal(err)
	}
	_, err := e.OpenFresh(e.Key)
	wantIntegrity(t, err, rel(t, e, d[1]))
}

func TestTamperOldDeltaReplayed(t *testing.T) {
	e, d := threeDeltas(t)
	// Delta 1 put back as sequence 4 under its own id.
	b, _ := os.ReadFile(d[0])
	base := filepath.Base(d[0])
	replay := filepath.Join(e.RemoteDir, "deltas", "0000000000000004"+base[16:])
	if err := os.WriteFile(replay, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := e.OpenFresh(e.Key)
	wantIntegrity(t, err, rel(t, e, replay))
}

func TestTamperConfig(t *testing.T) {
	e, _ := threeDeltas(t)
	flipByte(t, filepath.Join(e.RemoteDir, "config"), -3)
	_, err := e.OpenFresh(e.Key)
	wantIntegrity(t, err, "config")
}

func TestDamagedLocalStateIsRebuilt(t *testing.T) {
	e, _ := threeDeltas(t)
	e.Store.Close()
	// Corrupt every cached trailer and the state file.
	filepath.Walk(e.State, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && (strings.Contains(p, "trailers") || filepath.Base(p) == "state.json") {
			os.WriteFile(p, []byte("garbage"), 0o600)
		}
		return nil
	})
	r, err := store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State})
	if err != nil {
		t.Fatalf("damaged local state: %v", err)
	}
	defer r.Close()
	if len(r.Snapshots()) != 3 {
		t.Fatalf("snapshots after rebuild: %d", len(r.Snapshots()))
	}
}
