package store

// ProgressFunc hears how a long operation goes: done of total units of
// stage (a key rotation's re-sealing, a prune's compaction and deletion),
// first with done 0, then after each unit. It is called from the
// operation's goroutine; it must not call the store.
type ProgressFunc func(stage string, done, total int)

// progress reports to Options.Progress, if set.
func (r *Store) progress(stage string, done, total int) {
	if r.opts.Progress != nil {
		r.opts.Progress(stage, done, total)
	}
}
