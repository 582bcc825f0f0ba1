package store_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// TestNewerTrailerVersionIsNotDamage: a delta whose trailer authenticates
// but carries a version this chatsafe does not know was written by a
// newer one. It is not damage (nothing to cut, nothing to copy back: a
// repair on it would drop good history), but the repository needing an
// upgrade (store.ErrUnsupported, exit 2), also for an open that contains
// damage (Partial).
func TestNewerTrailerVersionIsNotDamage(t *testing.T) {
	e, d := threeDeltas(t)
	if err := store.EditTrailer(e.Store, d[2], func(plain []byte) { plain[0] = 99 }); err != nil {
		t.Fatal(err)
	}
	for _, partial := range []bool{false, true} {
		r, err := store.Open(e.Ctx, storetest.OpenRemote(t, e.RemoteDir), e.Key, store.Options{Partial: partial, StateDir: filepath.Join(t.TempDir(), "state")})
		if err == nil {
			r.Close()
		}
		if !errors.Is(err, store.ErrUnsupported) || errors.Is(err, store.ErrIntegrity) {
			t.Errorf("partial %v: a delta of trailer version 99: %v, want the repository needing a newer chatsafe, not damage", partial, err)
		}
	}
}
