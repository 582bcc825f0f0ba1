//go:build linux

package instance

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/crypt/keyringtest"
)

// TestKeySourceNamesKeyring: a key found in the OS keyring is reported as
// from the keyring (the daemon's start-up log and status say where the
// key came from), one in the key cache file as from the cache.
func TestKeySourceNamesKeyring(t *testing.T) {
	keyringtest.Start(t)
	k, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		store string
		want  string
	}{{"auto", "keyring"}, {"file", "cache"}} {
		cfg := &configs.Config{StateDir: filepath.Join(t.TempDir(), "state"), KeyStore: tc.store}
		if _, err := KeyCache(cfg).Write(k); err != nil {
			t.Fatal(err)
		}
		got, src, err := LoadKey(context.Background(), cfg, Options{})
		if err != nil || got != k || src != tc.want {
			t.Fatalf("key_store %s: source %q, %v; want %q", tc.store, src, err, tc.want)
		}
	}
}
