package store_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// configVersionFor is the config version a new repository (or a key
// rotation) with cipher c writes: the one a chatsafe before config
// version 3 reads (1, or 2 after a rotation) for XChaCha20-Poly1305, 3
// for XAES-256-GCM.
func configVersionFor(c crypt.Cipher, rotated bool) byte {
	switch {
	case c != crypt.XChaCha20Poly1305:
		return 3
	case rotated:
		return 2
	}
	return 1
}

// TestNewRepositoryCipher: a new repository takes the machine's cipher
// unless Options.Cipher says otherwise, and a config version that names
// it only if it is not XChaCha20-Poly1305 (so older chatsafes still read
// it); a new device learns the cipher from the config and backs up,
// checks and restores with it.
func TestNewRepositoryCipher(t *testing.T) {
	for _, c := range []crypt.Cipher{0, crypt.XChaCha20Poly1305, crypt.XAES256GCM} {
		want := c
		if c == 0 {
			want = crypt.PreferredCipher()
		}
		t.Run(want.String(), func(t *testing.T) {
			ctx := t.Context()
			src, remoteDir := t.TempDir(), t.TempDir()
			key := randKey()
			r, err := store.Init(ctx, storetest.OpenRemote(t, remoteDir), key, store.Options{StateDir: t.TempDir(), Cipher: c})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Cipher() != want {
				t.Fatalf("Init with %d: %v, want %v", c, r.Cipher(), want)
			}
			cfg, err := os.ReadFile(filepath.Join(remoteDir, "config"))
			if err != nil {
				t.Fatal(err)
			}
			if cfg[8] != configVersionFor(want, false) {
				t.Fatalf("a new %v repository's config is version %d, want %d", want, cfg[8], configVersionFor(want, false))
			}
			storetest.WriteFile(t, filepath.Join(src, "a.bin"), storetest.RandBytes(3, 200<<10))
			storetest.WriteFile(t, filepath.Join(src, "b.txt"), []byte(strings.Repeat("chat ", 3000)))
			if _, err := backup.Run(ctx, r, backup.Options{Source: src}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			fresh, err := store.Open(ctx, storetest.OpenRemote(t, remoteDir), key, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Close()
			if fresh.Cipher() != want {
				t.Fatalf("a new device reads %v, want %v", fresh.Cipher(), want)
			}
			if _, err := check.Run(ctx, fresh, check.Options{ReadData: true}); err != nil {
				t.Fatalf("check --read-data: %v", err)
			}
			if !equalDigest(restoredFrom(t, fresh), storetest.DirDigest(t, src, nil)) {
				t.Fatal("the restore differs from the source")
			}
		})
	}
}

// TestRotateAcrossCiphers: a key rotation re-seals a repository with the
// cipher it is asked for (Options.Cipher, else the machine's), which the
// new config names or, for XChaCha20-Poly1305, implies. From each cipher
// to the other, whatever this machine prefers: an interrupted rotation's
// deltas are found and dropped (DropRotateWrites), then rotations to the
// other cipher, to the machine's and back to the first each leave a
// repository that checks and restores as before, which the old key no
// longer opens.
func TestRotateAcrossCiphers(t *testing.T) {
	for _, tc := range []struct {
		fixture  string
		from, to crypt.Cipher
	}{
		{"format6", crypt.XChaCha20Poly1305, crypt.XAES256GCM}, // config version 1
		{"config3", crypt.XAES256GCM, crypt.XChaCha20Poly1305},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			remoteDir, oldKey := copyFixture(t, tc.fixture)
			ctx := t.Context()
			rem := storetest.OpenRemote(t, remoteDir)
			state := t.TempDir()
			r, err := store.Open(ctx, rem, oldKey, store.Options{StateDir: state, Cipher: tc.to})
			if err != nil {
				t.Fatal(err)
			}
			if r.Cipher() != tc.from {
				t.Fatalf("testdata/%s: %v, want %v", tc.fixture, r.Cipher(), tc.from)
			}
			want := restoredFrom(t, r)
			oldHead := r.HeadSeq()
			newKey := randKey()

			faults.Hook = func(p string) error {
				if p == "rotate:uploaded" {
					return errCrash
				}
				return nil
			}
			defer func() { faults.Hook = nil }()
			if err := r.ResealTo(ctx, newKey, []remotes.Remote{rem}); !errors.Is(err, errCrash) {
				t.Fatalf("first attempt: %v", err)
			}
			faults.Hook = nil
			r.Close()
			if objs, err := store.ObjectsOpeningWith(ctx, rem, newKey); err != nil || len(objs) == 0 {
				t.Fatalf("the interrupted rotation's deltas (%v) under the new key: %v, %v", tc.to, objs, err)
			}
			if err := store.DropRotateWrites(ctx, rem, state, oldHead, newKey); err != nil {
				t.Fatal(err)
			}
			if objs, err := store.ObjectsOpeningWith(ctx, rem, newKey); err != nil || len(objs) != 0 {
				t.Fatalf("after dropping the interrupted rotation's writes, the new key opens %v (%v)", objs, err)
			}

			next := newKey
			for _, c := range []crypt.Cipher{tc.to, 0, tc.from} {
				wantCipher := c
				if c == 0 {
					wantCipher = crypt.PreferredCipher()
				}
				r, err := store.Open(ctx, rem, oldKey, store.Options{StateDir: state, Cipher: c})
				if err != nil {
					t.Fatal(err)
				}
				if err := r.ResealTo(ctx, next, []remotes.Remote{rem}); err != nil {
					t.Fatal(err)
				}
				r.Close()
				nr, err := store.Open(ctx, rem, next, store.Options{StateDir: state})
				if err != nil {
					t.Fatal(err)
				}
				if nr.Cipher() != wantCipher {
					t.Fatalf("rotated with Options.Cipher %d: %v, want %v", c, nr.Cipher(), wantCipher)
				}
				if cfg, err := os.ReadFile(filepath.Join(remoteDir, "config")); err != nil || cfg[8] != configVersionFor(wantCipher, true) {
					t.Fatalf("rotated to %v: config version %d (%v), want %d", wantCipher, cfg[8], err, configVersionFor(wantCipher, true))
				}
				if _, _, err := nr.DeleteGarbage(ctx, nr.Targets()); err != nil {
					t.Fatal(err)
				}
				if _, err := check.Run(ctx, nr, check.Options{ReadData: true}); err != nil {
					t.Fatalf("check --read-data after rotating to %v: %v", wantCipher, err)
				}
				if !equalDigest(restoredFrom(t, nr), want) {
					t.Fatalf("the restore after rotating to %v differs", wantCipher)
				}
				nr.Close()
				if objs, err := store.ObjectsOpeningWith(ctx, rem, oldKey); err != nil || len(objs) != 0 {
					t.Fatalf("the old key still opens %v (%v)", objs, err)
				}
				oldKey, next = next, randKey()
			}
		})
	}
}

// restoredFrom restores r's latest snapshot into a new directory and
// digests what it wrote.
func restoredFrom(t *testing.T, r *store.Store) map[string]string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := restore.Run(t.Context(), r, restore.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	return storetest.DirDigest(t, dst, nil)
}

// TestConfigClearBytesTampered: whatever a remote writes over a byte of a
// config after its version (repository id, key check, rotation history,
// seal), the config is damaged or the key wrong (exit 6 or 3), never one
// that needs a newer chatsafe (exit 2, which the service units do not
// restart): nothing in the clear names the cipher.
func TestConfigClearBytesTampered(t *testing.T) {
	for _, c := range crypt.Ciphers() {
		t.Run(c.String(), func(t *testing.T) {
			ctx := t.Context()
			remoteDir, key := t.TempDir(), randKey()
			r, err := store.Init(ctx, storetest.OpenRemote(t, remoteDir), key, store.Options{StateDir: t.TempDir(), Cipher: c})
			if err != nil {
				t.Fatal(err)
			}
			r.Close()
			p := filepath.Join(remoteDir, "config")
			cfg, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rem := storetest.OpenRemote(t, remoteDir)
			for i := 9; i < len(cfg); i++ {
				for _, v := range []byte{cfg[i] ^ 1, 200} {
					if v == cfg[i] {
						continue
					}
					b := bytes.Clone(cfg)
					b[i] = v
					storetest.WriteFile(t, p, b)
					_, err := store.Open(ctx, rem, key, store.Options{})
					if errors.Is(err, store.ErrUnsupported) || !(errors.Is(err, store.ErrIntegrity) || errors.Is(err, store.ErrWrongKey)) {
						t.Fatalf("config byte %d set to %d: %v, want an integrity failure or a wrong key", i, v, err)
					}
				}
			}
		})
	}
}
