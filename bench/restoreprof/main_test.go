//go:build unix

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/internal/storetest"
)

// run restores a repository made the way `chatsafe init` and `backup`
// make one, byte for byte, and writes the CPU profile it was asked for.
func TestRunRestoresWithAProfile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "chats")
	files := map[string][]byte{"notes.txt": []byte("some notes"), "media/photo.jpg": storetest.RandBytes(1, 300<<10)}
	for name, b := range files {
		storetest.WriteFile(t, filepath.Join(src, name), b)
	}
	cfg := configs.Default()
	cfg.Source = src
	cfg.SetStateDir(filepath.Join(dir, "state"))
	cfg.Remotes = []configs.Remote{{Name: "local", URL: filepath.Join(dir, "repo")}}
	cfgPath := filepath.Join(dir, "config.yaml")
	key, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := instance.Create(t.Context(), cfg, cfgPath, key, nil); err != nil {
		t.Fatal(err)
	}
	if cfg, err = configs.Load(cfgPath); err != nil {
		t.Fatal(err)
	}
	inst, err := instance.Open(t.Context(), cfg, instance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Run(t.Context(), inst.Store, backup.Options{Source: src}); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Store.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	inst.Close()

	dst, prof, mem := filepath.Join(dir, "restored"), filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "allocs.pprof")
	if err := run(cfgPath, dst, prof, "", mem); err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		if got, err := os.ReadFile(filepath.Join(dst, name)); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s restored as %d bytes (%v), want %d", name, len(got), err, len(want))
		}
	}
	if fi, err := os.Stat(prof); err != nil || fi.Size() == 0 {
		t.Fatalf("no CPU profile written: %v", err)
	}
	if fi, err := os.Stat(mem); err != nil || fi.Size() == 0 {
		t.Fatalf("no allocation profile written: %v", err)
	}
	if err := run(cfgPath, "", "", "", ""); err == nil {
		t.Fatal("run without a target succeeded")
	}
}
