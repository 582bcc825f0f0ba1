package browse_test

import (
	"bytes"
	"testing"

	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/crypt"
)

// testChunkPlaces: writing every fetched chunk at each of its places (as
// a restore does, in FetchBlobs' order) gives the bytes WriteTo gives,
// and the places tile the file.
func (rp *repo) testChunkPlaces(t *testing.T) {
	for _, p := range []string{"msgstore.db", "media/photo.jpg", "notes.txt"} {
		n, err := browse.Lookup(rp.ctx, rp.r, rp.s2, p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := browse.Open(rp.ctx, rp.r, &n)
		if err != nil {
			t.Fatal(err)
		}
		places := f.ChunkPlaces()
		lens := map[crypt.ID]int64{}
		covered := int64(0)
		for _, ref := range f.Refs() {
			lens[ref.ID] = int64(ref.Len)
		}
		distinct := 0
		for id, offs := range places.All() {
			covered += lens[id] * int64(len(offs))
			distinct++
		}
		if covered != f.Size() || distinct > len(f.Refs()) {
			t.Errorf("%s: places cover %d of %d bytes (%d ids, %d refs)", p, covered, f.Size(), distinct, len(f.Refs()))
		}
		if at := places.At(crypt.ID{}, nil); len(at) != 0 {
			t.Errorf("%s: an id the file does not hold has places %v", p, at)
		}
		got := make([]byte, f.Size())
		ids := make([]crypt.ID, 0, distinct)
		for id := range places.All() {
			ids = append(ids, id)
		}
		if err := rp.r.FetchBlobs(rp.ctx, ids, func(id crypt.ID, plain []byte) error {
			for _, off := range places.At(id, nil) {
				copy(got[off:], plain)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if want := rp.dump(t, rp.s2, p); !bytes.Equal(got, want) {
			t.Errorf("%s placed chunk by chunk differs from its dump", p)
		}
	}
}
