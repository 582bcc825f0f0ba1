package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// truncatedAfterList is a real remote whose object at path is cut to half
// its size right after each listing: what the rotation check reads is
// shorter than what it listed (a writer replacing it, a damaged copy
// served from a cache that listed it whole).
type truncatedAfterList struct {
	remotes.Remote
	path string
}

func (l truncatedAfterList) List(ctx context.Context, dir string) ([]remotes.ObjectInfo, error) {
	objs, err := l.Remote.List(ctx, dir)
	if fi, serr := os.Stat(l.path); serr == nil {
		if terr := os.Truncate(l.path, fi.Size()/2); terr != nil {
			return nil, terr
		}
	}
	return objs, err
}

// TestObjectsOpeningWithShortRead: the rotation check tells a read of a
// delta that ends early the way every other read does (store/objects.go,
// shortRead): a delta the remote holds shorter than it listed is not a
// well-formed delta, passed over like one too short when listed; a
// download cut mid-way of one it holds whole is the remote out of reach,
// to retry. Neither is an error of no class.
func TestObjectsOpeningWithShortRead(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("hello"))
	e.Backup()
	storetest.WriteFile(t, filepath.Join(e.Src, "b.txt"), []byte("hello again"))
	e.Backup()
	deltas := storetest.DeltaFiles(t, e.RemoteDir)
	if len(deltas) != 2 {
		t.Fatalf("deltas %v, want 2", deltas)
	}

	t.Run("cut download", func(t *testing.T) {
		rem := remotes.Faulty(storetest.OpenRemote(t, e.RemoteDir), remotes.FaultOptions{
			CutDownload: func(name string) bool { return strings.HasPrefix(name, "deltas/") },
		})
		_, err := store.ObjectsOpeningWith(e.Ctx, rem, e.Key)
		if !errors.Is(err, remotes.ErrUnreachable) || errors.Is(err, store.ErrIntegrity) {
			t.Fatalf("the rotation check with a cut download: %v, want the remote unreachable and no integrity failure", err)
		}
	})

	t.Run("shorter than listed", func(t *testing.T) {
		cut := deltas[1]
		rem := truncatedAfterList{Remote: storetest.OpenRemote(t, e.RemoteDir), path: cut}
		got, err := store.ObjectsOpeningWith(e.Ctx, rem, e.Key)
		if err != nil {
			t.Fatalf("the rotation check with a delta shorter than listed: %v, want it passed over as not a well-formed delta", err)
		}
		want := []string{"config", rel(t, e, deltas[0])}
		if !slices.Equal(got, want) {
			t.Fatalf("opening with the key: %v, want %v", got, want)
		}
	})
}
