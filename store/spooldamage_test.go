package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// TestSpoolCopyCutShortIsLocalDamage: a delta committed but not uploaded
// yet is read from this device's spool; a spool copy cut short is damage
// to this device's disk, and the error must not send the user after the
// remote's copy (there is none yet).
func TestSpoolCopyCutShortIsLocalDamage(t *testing.T) {
	key, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	src, state := t.TempDir(), t.TempDir()
	rem := storetest.OpenRemote(t, t.TempDir())
	r, err := store.Init(t.Context(), rem, key, store.Options{StateDir: state, DeviceID: [16]byte{1}, Hostname: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	storetest.WriteFile(t, filepath.Join(src, "Media", "IMG-0001.jpg"), storetest.RandBytes(1, 300<<10))
	if _, err := backup.Run(t.Context(), r, backup.Options{Source: src}); err != nil {
		t.Fatal(err)
	}
	sp := spooled(t, state)
	if len(sp) != 1 {
		t.Fatalf("spool %v, want the one delta not uploaded yet", sp)
	}
	fi, err := os.Stat(sp[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sp[0], fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	_, err = restore.Run(t.Context(), r, restore.Options{Target: filepath.Join(t.TempDir(), "out")})
	var ie *store.IntegrityError
	if !errors.As(err, &ie) {
		t.Fatalf("a restore from a spool copy cut short gave %v, want an IntegrityError", err)
	}
	if msg := err.Error(); strings.Contains(msg, "remote copy is damaged") || !strings.Contains(msg, "own copy") {
		t.Errorf("the error blames the remote, or does not say this device's copy is damaged: %v", msg)
	}
}
