package backup

import (
	"context"
	"io/fs"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/source"
	"github.com/chatsafe/chatsafe/store"
)

// KeepUnreadableFiles gives a backup run over st's newest snapshot the
// warnings the scanner sends for files it cannot read and the file cache
// does not know, one a path, as Run's visitor gets them; it returns how
// many kept their stored version.
func KeepUnreadableFiles(ctx context.Context, st Store, paths []string) (kept int) {
	snaps := st.Snapshots()
	b := &run{ctx: ctx, log: st.Log(), dirs: map[string][]store.Node{}, subtotals: map[crypt.ID]totals{}, res: &Result{},
		trees: st, prevRoot: snaps[len(snaps)-1].Tree, havePrev: true}
	for _, p := range paths {
		ue := &source.UnreadableError{Path: p, Err: fs.ErrPermission}
		b.Warn(p, ue)
		if ue.Kept {
			kept++
		}
	}
	return kept
}
