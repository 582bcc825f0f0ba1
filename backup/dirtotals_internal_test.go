package backup

import (
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
)

// A directory token carries its totals; a cache from before them holds
// the tree id alone, which still reads (uncounted); anything else does not.
func TestDirToken(t *testing.T) {
	id := crypt.ID{1, 2, 3}
	want := totals{files: 70000, bytes: 1 << 40}
	got, tt, counted, ok := parseDirToken(dirToken(id, want))
	if !ok || !counted || got != id || tt != want {
		t.Fatalf("round trip: %v %v counted %v ok %v", got, tt, counted, ok)
	}
	if got, _, counted, ok := parseDirToken(id[:]); !ok || counted || got != id {
		t.Fatalf("an id alone: %v counted %v ok %v", got, counted, ok)
	}
	tok := dirToken(id, want)
	for _, bad := range [][]byte{nil, id[:5], tok[:len(tok)-1], append(tok, 0)} {
		if _, _, _, ok := parseDirToken(bad); ok {
			t.Errorf("token %x read as valid", bad)
		}
	}
}
