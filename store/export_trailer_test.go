package store

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/chatsafe/chatsafe/crypt"
)

// EditTrailer rewrites, in place on a local remote, the trailer of the
// delta at path (an object of r's repository) as edit leaves its
// plaintext, sealed again under r's key: what a newer chatsafe, or a
// buggy writer with the key, could have written.
func EditTrailer(r *Store, path string, edit func(plain []byte)) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	tlen, ok := decodeFooter(b[len(b)-footerSize:])
	if !ok {
		return fmt.Errorf("%s: no footer", path)
	}
	at := len(b) - footerSize - tlen
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	var id [16]byte
	if n, err := hex.Decode(id[:], []byte(name[strings.LastIndexByte(name, '-')+1:])); err != nil || n != len(id) {
		return fmt.Errorf("%s: not a delta's name (%v)", path, err)
	}
	ad := crypt.AssociatedData(adTrailer, r.cfg.RepoID, id[:])
	plain, err := r.aead.Open(nil, b[at:at+tlen], ad)
	if err != nil {
		return err
	}
	edit(plain)
	sealed := r.aead.Seal(nil, plain, ad)
	if len(sealed) != tlen {
		return fmt.Errorf("the edited trailer is %d bytes, not %d", len(sealed), tlen)
	}
	copy(b[at:], sealed)
	return os.WriteFile(path, b, 0o644)
}
