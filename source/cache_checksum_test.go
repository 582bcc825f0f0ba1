package source

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A cache file with one byte changed on disk (here inside a token, where
// the encoding still decodes) is ignored with a warning, never used: a
// token that decodes to the wrong references would make the next version
// of a database a patch on the wrong base.
func TestFileCacheChangedOnDiskIsIgnored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "filecache")
	token := bytes.Repeat([]byte("TOKENBYTES"), 8)
	c := &FileCache{path: path, entries: map[string]cacheEntry{"msgstore.db": {Kind: KindSQLite, Token: token}}}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if back, err := LoadFileCache(path); err != nil || back.loadWarning != nil || !bytes.Equal(back.entries["msgstore.db"].Token, token) {
		t.Fatalf("an intact cache does not load back: %v, %v", err, back.loadWarning)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(raw, token)
	if i < 0 {
		t.Fatal("the token is not in the cache file as it is")
	}
	raw[i+3] ^= 0x20
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	back, err := LoadFileCache(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.loadWarning == nil || len(back.entries) != 0 {
		t.Fatalf("a cache changed on disk was used: %d entries, warning %v", len(back.entries), back.loadWarning)
	}
}
