package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/remotes"
)

// ObjectsOpeningWith lists the objects on rem that key still opens: the
// config (by its key check) and every delta whose trailer authenticates
// under key. After a rotation it must list nothing for the old key (a
// delta's blobs are sealed under the same key as its trailer).
func ObjectsOpeningWith(ctx context.Context, rem remotes.Remote, key crypt.Key) ([]string, error) {
	raw, repoID, err := configHeader(ctx, rem)
	if err != nil {
		return nil, err
	}
	var out []string
	if kc := keyCheck(key, repoID); string(kc[:]) == string(raw[len(configMagic)+17:configHeaderSize]) {
		out = append(out, configName)
	}
	aeads := sealersOf(key)
	objs, err := rem.List(ctx, deltaDir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", rem, err)
	}
	for _, o := range objs {
		ok, err := trailerOpens(ctx, rem, o, aeads, repoID)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, o.Name)
		}
	}
	return out, nil
}

// configHeader reads rem's config object and its repository id.
func configHeader(ctx context.Context, rem remotes.Remote) ([]byte, [16]byte, error) {
	var repoID [16]byte
	raw, err := getConfig(ctx, rem)
	if err != nil {
		return nil, repoID, err
	}
	if len(raw) < configHeaderSize {
		return nil, repoID, integrityErr(configName, "not a chatsafe config object", nil)
	}
	copy(repoID[:], raw[len(configMagic)+1:])
	return raw, repoID, nil
}

// trailerOpens reports whether the delta o's trailer authenticates under
// one of aeads (false for anything that is not a well-formed delta).
func trailerOpens(ctx context.Context, rem remotes.Remote, o remotes.ObjectInfo, aeads []*crypt.AEAD, repoID [16]byte) (bool, error) {
	_, id, ok := parseDeltaName(o.Name)
	if !ok {
		return false, nil
	}
	sealed, err := sealedTrailerFrom(o.Name, o.Size, func(off, n int64) ([]byte, error) { return getAll(ctx, rem, o.Name, off, n) })
	var ie *IntegrityError
	if errors.As(err, &ie) {
		return false, nil // not a well-formed delta
	}
	if err != nil {
		return false, err
	}
	ad := crypt.AssociatedData(adTrailer, repoID, id[:])
	for _, a := range aeads {
		if _, err := a.Open(nil, sealed, ad); err == nil {
			return true, nil
		}
	}
	return false, nil
}

// getAll reads n bytes of name at off on rem; a read that ends early is
// told apart as every read is (getFull, shortRead): the object shorter
// than listed is an *IntegrityError, a dropped connection the remote out
// of reach.
func getAll(ctx context.Context, rem remotes.Remote, name string, off, n int64) ([]byte, error) {
	b := make([]byte, n)
	if err := getFull(ctx, rem, name, off, b); err != nil {
		return nil, err
	}
	return b, nil
}
