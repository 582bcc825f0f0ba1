//go:build linux

package mount_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

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
