package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/chatsafe/chatsafe/store"
)

// A backup uploads every delta a remote lacks, not only its own: those an
// earlier backup could not upload (exit 5) wait in the spool until then.
// Its result says so, or a backup of an unchanged directory would seem to
// have done nothing.

// waitingUploads counts, per remote, the deltas a sync uploaded that were
// live before the backup: those that were waiting.
type waitingUploads struct {
	before  map[string]bool // live delta names before the backup
	deltas  map[string]bool // those uploaded somewhere
	remotes []string        // the remotes that got any, in config order
	counts  map[string]int  // by remote
}

// newWaitingUploads notes st's live deltas, before a backup adds its own.
func newWaitingUploads(st *store.Store) *waitingUploads {
	w := &waitingUploads{before: map[string]bool{}, deltas: map[string]bool{}, counts: map[string]int{}}
	for _, di := range st.LiveDeltas() {
		w.before[di.Name] = true
	}
	return w
}

// sync is st.Sync, counting the waiting deltas each target gets: every
// target is synced, one failing does not keep the others from it, and
// the errors are joined. It returns how many deltas left the spool.
func (w *waitingUploads) sync(ctx context.Context, st *store.Store) (int, error) {
	before := len(st.Pending())
	var errs []error
	for _, t := range st.Targets() {
		hooks := store.SyncHooks{Uploaded: func(di store.DeltaInfo) {
			if !w.before[di.Name] {
				return
			}
			if w.counts[t.Name] == 0 {
				w.remotes = append(w.remotes, t.Name)
			}
			w.counts[t.Name]++
			w.deltas[di.Name] = true
		}}
		if err := st.SyncTarget(ctx, t, hooks); err != nil {
			errs = append(errs, err)
		}
	}
	return before - len(st.Pending()), errors.Join(errs...)
}

// print says what waited and was uploaded, and where; nothing when
// nothing waited.
func (w *waitingUploads) print(out io.Writer) {
	n := len(w.deltas)
	if n == 0 {
		return
	}
	was := "was"
	if n > 1 {
		was = "were"
	}
	parts := make([]string, len(w.remotes))
	same := true // every remote got all of them
	for i, r := range w.remotes {
		parts[i] = fmt.Sprintf("%d to %s", w.counts[r], r)
		same = same && w.counts[r] == n
	}
	list := strings.Join(parts, ", ")
	if same {
		list = "to " + strings.Join(w.remotes, ", ")
	}
	fmt.Fprintf(out, "uploaded %s that %s waiting: %s\n", plural(n, "delta"), was, list)
}
