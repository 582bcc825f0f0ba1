package backup

import (
	"encoding/binary"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/store"
)

// A directory's token (source.TreeVisitor) is its tree's id followed by
// how many files and bytes lie under it, so that a scoped cycle carrying
// the directory over whole counts them in the snapshot's totals without
// reading its trees.

// totals are the files and bytes under a directory, as a snapshot counts
// them.
type totals struct{ files, bytes uint64 }

// dirToken is the token of the directory stored as tree id.
func dirToken(id crypt.ID, t totals) []byte {
	b := make([]byte, 0, len(id)+2*binary.MaxVarintLen64)
	b = append(b, id[:]...)
	b = binary.AppendUvarint(b, t.files)
	return binary.AppendUvarint(b, t.bytes)
}

// parseDirToken reads a token of dirToken. A cache written before the
// totals holds the id alone: counted is false then. ok is false for
// anything else.
func parseDirToken(tok []byte) (id crypt.ID, t totals, counted, ok bool) {
	if len(tok) < len(id) {
		return id, t, false, false
	}
	copy(id[:], tok)
	rest := tok[len(id):]
	if len(rest) == 0 {
		return id, t, false, true
	}
	var n int
	if t.files, n = binary.Uvarint(rest); n <= 0 {
		return id, t, false, false
	}
	rest = rest[n:]
	if t.bytes, n = binary.Uvarint(rest); n <= 0 || n != len(rest) {
		return id, t, false, false
	}
	return id, t, true, true
}

// totalsOf adds up a directory's entries: its files, and the totals
// already recorded for its subdirectories. Called with b.mu held.
func (b *run) totalsOf(nodes []store.Node) totals {
	var t totals
	for _, n := range nodes {
		switch n.Kind {
		case store.KindFile, store.KindSQLite:
			t.files, t.bytes = t.files+1, t.bytes+n.Size
		case store.KindDir:
			s := b.subtotals[n.Subtree]
			t.files, t.bytes = t.files+s.files, t.bytes+s.bytes
		}
	}
	return t
}
