//go:build linux

package mount_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/mount"
)

// TestMount mounts a real repository through the kernel's FUSE and reads
// it with ordinary file calls.
func TestMount(t *testing.T) {
	e := storetest.NewEnv(t)
	dbPath := filepath.Join(e.Src, "msgstore.db")
	db := storetest.OpenChatDB(t, dbPath)
	db.Insert(0, 2000, 500)
	photo := storetest.RandBytes(9, 1<<20)
	storetest.WriteFile(t, filepath.Join(e.Src, "media", "photo.jpg"), photo)
	rows1 := storetest.TableRows(t, dbPath)
	first := e.Backup().Snapshot
	db.Insert(2000, 2300, 300)
	storetest.WriteFile(t, filepath.Join(e.Src, "notes.txt"), []byte("later"))
	rows2 := storetest.TableRows(t, dbPath)
	second := e.Backup().Snapshot

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- mount.Run(ctx, e.Store, dir, mount.Options{Ready: func() { close(ready) }}) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("mount: %v", err)
	}
	unmounted := false
	t.Cleanup(func() {
		if !unmounted {
			cancel()
			<-done
		}
	})

	ents, err := os.ReadDir(filepath.Join(dir, "snapshots"))
	if err != nil || len(ents) != 2 {
		t.Fatalf("snapshots/: %v %v", ents, err)
	}
	target, err := os.Readlink(filepath.Join(dir, "latest"))
	if err != nil || target != "snapshots/"+ents[1].Name() {
		t.Errorf("latest -> %q %v", target, err)
	}
	for _, c := range []struct {
		dir  string
		rows string
	}{{ents[0].Name(), rows1}, {"../latest", rows2}, {second.ShortID(), rows2}} {
		b, err := os.ReadFile(filepath.Join(dir, "snapshots", c.dir, "msgstore.db"))
		if err != nil {
			t.Fatalf("reading the database in %s: %v", c.dir, err)
		}
		p := filepath.Join(t.TempDir(), "copy.db")
		storetest.WriteFile(t, p, b)
		if storetest.TableRows(t, p) != c.rows {
			t.Errorf("the database under %s differs from the source's at that time", c.dir)
		}
	}
	got, err := os.ReadFile(filepath.Join(dir, "snapshots", first.ShortID(), "media", "photo.jpg"))
	if err != nil || !bytes.Equal(got, photo) {
		t.Errorf("photo.jpg through the mount: %d bytes, %v", len(got), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "snapshots", first.ShortID(), "notes.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("notes.txt in the first snapshot: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, "latest", "notes.txt"))
	if err != nil || fi.Size() != 5 || fi.Mode().Perm()&0o222 != 0 {
		t.Errorf("latest/notes.txt: %v %v", fi, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "latest", "notes.txt"), []byte("x"), 0o644); err == nil {
		t.Error("writing through the mount succeeded")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("unmount: %v", err)
	}
	unmounted = true
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Errorf("after unmount the mount point holds %v (%v)", ents, err)
	}
}

func TestMountRefuses(t *testing.T) {
	e := storetest.NewEnv(t)
	full := t.TempDir()
	storetest.WriteFile(t, filepath.Join(full, "mine.txt"), []byte("x"))
	if err := mount.Run(t.Context(), e.Store, full, mount.Options{}); !errors.Is(err, mount.ErrMountpoint) {
		t.Errorf("a non-empty mount point: %v", err)
	}
	if err := mount.Run(t.Context(), e.Store, filepath.Join(full, "missing"), mount.Options{}); !errors.Is(err, mount.ErrMountpoint) {
		t.Errorf("a missing mount point: %v", err)
	}
	err := mount.Run(t.Context(), e.Store, t.TempDir(), mount.Options{Device: filepath.Join(t.TempDir(), "no-fuse")})
	if !errors.Is(err, mount.ErrNoFUSE) {
		t.Errorf("without a FUSE device: %v", err)
	}
}

// TestMountSeesNewSnapshots: snapshots committed after mounting appear
// (and latest moves to them) while a file of an older snapshot stays
// open and readable.
func TestMountSeesNewSnapshots(t *testing.T) {
	e := storetest.NewEnv(t)
	r, err := e.OpenFresh(e.Key) // the mount's own reader, like another device's
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Every look re-reads the head, so the test needs no waiting.
	dir := startMount(t, r, mount.Options{RefreshEvery: time.Nanosecond})
	list := func(want int) []os.DirEntry {
		t.Helper()
		ents, err := os.ReadDir(filepath.Join(dir, "snapshots"))
		if err != nil || len(ents) != want {
			t.Fatalf("snapshots/: %v (%v), want %d entries", ents, err, want)
		}
		return ents
	}

	// Mounted on an empty repository: no latest yet.
	list(0)
	if _, err := os.Lstat(filepath.Join(dir, "latest")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("latest before any snapshot: %v", err)
	}

	old := storetest.RandBytes(5, 300<<10)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.bin"), old)
	first := e.Backup().Snapshot
	ents := list(1)
	if target, err := os.Readlink(filepath.Join(dir, "latest")); err != nil || target != "snapshots/"+ents[0].Name() {
		t.Fatalf("latest after the first snapshot -> %q %v", target, err)
	}
	f, err := os.Open(filepath.Join(dir, "snapshots", first.ShortID(), "a.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	storetest.WriteFile(t, filepath.Join(e.Src, "a.bin"), []byte("replaced"))
	second := e.Backup().Snapshot
	ents = list(2)
	if target, err := os.Readlink(filepath.Join(dir, "latest")); err != nil || target != "snapshots/"+ents[1].Name() {
		t.Errorf("latest after the second snapshot -> %q %v, want %s", target, err, ents[1].Name())
	}
	if b, err := os.ReadFile(filepath.Join(dir, "latest", "a.bin")); err != nil || string(b) != "replaced" {
		t.Errorf("latest/a.bin: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "snapshots", second.ShortID())); err != nil {
		t.Errorf("the new snapshot by id: %v", err)
	}
	// The file opened in the first snapshot reads as it was.
	got := make([]byte, len(old))
	if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, old) {
		t.Errorf("the file open in the older snapshot: %v", err)
	}
}

// startMount mounts r at a new directory with opts and returns it once
// the mount serves; the test's end unmounts it and checks that went well.
func startMount(t *testing.T, r browse.Reader, opts mount.Options) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan struct{})
	done := make(chan error, 1)
	opts.Ready = func() { close(ready) }
	go func() { done <- mount.Run(ctx, r, dir, opts) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return dir
}
