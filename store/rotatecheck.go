package store

import (
	"context"
	"fmt"
	"io"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/remotes"
)

// ObjectsOpeningWith lists the objects on rem that key still opens: the
// config (by its key check) and every delta whose trailer authenticates
// under key. After a rotation it must list nothing for the old key (a
// delta's blobs are sealed under the same key as its trailer).
func ObjectsOpeningWith(ctx context.Context, rem remotes.Remote, key crypt.Key) ([]string, error) {
	rc, err := rem.Get(ctx, configName, 0, maxConfigSize+1)
	if err != nil {
		return nil, fmt.Errorf("reading the config from %s: %w", rem, err)
	}
	raw, err := readConfigObject(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	if len(raw) < configHeaderSize {
		return nil, integrityErr(configName, "not a chatsafe config object", nil)
	}
	var repoID [16]byte
	copy(repoID[:], raw[len(configMagic)+1:])
	var out []string
	if kc := keyCheck(key, repoID); string(kc[:]) == string(raw[len(configMagic)+17:configHeaderSize]) {
		out = append(out, configName)
	}
	aead := crypt.NewAEAD(key.Subkey(crypt.PurposeSeal))
	objs, err := rem.List(ctx, deltaDir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", rem, err)
	}
	const fs = int64(footerSize)
	for _, o := range objs {
		_, id, ok := parseDeltaName(o.Name)
		if !ok || o.Size < fs {
			continue
		}
		foot, err := getAll(ctx, rem, o.Name, o.Size-fs, fs)
		if err != nil {
			return nil, err
		}
		n, ok := decodeFooter(foot)
		if !ok || int64(n) > o.Size-fs || n > maxTrailerSize {
			continue
		}
		sealed, err := getAll(ctx, rem, o.Name, o.Size-fs-int64(n), int64(n))
		if err != nil {
			return nil, err
		}
		if _, err := aead.Open(nil, sealed, crypt.AssociatedData(adTrailer, repoID, id[:])); err == nil {
			out = append(out, o.Name)
		}
	}
	return out, nil
}

func getAll(ctx context.Context, rem remotes.Remote, name string, off, n int64) ([]byte, error) {
	rc, err := rem.Get(ctx, name, off, n)
	if err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", name, rem, err)
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", name, rem, err)
	}
	return b, nil
}
