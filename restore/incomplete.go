package restore

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// IncompleteError is a restore that stopped part-way (a damaged delta, a
// full disk, an interruption): the target holds the files restored
// before it stopped, each whole and verified, and lacks the others. What
// was written is kept, also in a target the restore created: a large
// restore that failed near its end has restored most of what the user
// wants (the database is among the first files of a chat directory), and
// a run again with Force rewrites it all. The message says so, and what
// to do. Unwrap gives the cause, which decides the exit code.
type IncompleteError struct {
	Target string // the restore's target
	At     string // where it stopped: the file or directory being restored ("" if unknown)
	Files  int    // files restored whole
	Total  int    // files to restore; -1 if unknown (filters, and the walk did not finish)
	// Fresh: the target was new or empty before the restore, so deleting
	// it loses nothing of the user's.
	Fresh bool
	Err   error
}

func (e *IncompleteError) Error() string {
	var b strings.Builder
	// An interruption's cause is only the cancellation; the caller says
	// it was interrupted.
	cancelled := errors.Is(e.Err, context.Canceled)
	if !cancelled {
		b.WriteString(e.Err.Error())
		b.WriteString("\nThe restore stopped")
	} else {
		b.WriteString("the restore stopped")
	}
	if e.At != "" {
		fmt.Fprintf(&b, " at %s", e.At)
	}
	switch {
	case e.Total >= 0:
		fmt.Fprintf(&b, " with %d of %d files restored", e.Files, e.Total)
	case e.Files == 1:
		b.WriteString(" with 1 file restored (of those --include/--exclude select)")
	default:
		fmt.Fprintf(&b, " with %d files restored (of those --include/--exclude select)", e.Files)
	}
	fmt.Fprintf(&b, ": %s is incomplete (each file restored there is whole and verified; the others are missing, and no directory has its mode and time yet). ", e.Target)
	if !cancelled {
		b.WriteString("Fix the cause and run")
	} else {
		b.WriteString("Run")
	}
	b.WriteString(" the restore again with --force")
	if e.Fresh {
		fmt.Fprintf(&b, ", or delete %s", e.Target)
	}
	return b.String()
}

func (e *IncompleteError) Unwrap() error { return e.Err }

// stoppedAt records where the restore stopped: the first failure's path
// (a file's failure cancels the others, which then fail too).
func (rs *restoreRun) stoppedAt(rel string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.stopAt == "" {
		rs.stopAt = rs.path(rel)
	}
}

// incomplete is err, from a restore that stopped part-way, as an
// IncompleteError; walked says the walk of the snapshot finished.
func (rs *restoreRun) incomplete(err error, opts Options, walked, fresh bool) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	total := int(rs.res.Snapshot.Files)
	if len(opts.Include) > 0 || len(opts.Exclude) > 0 {
		total = -1
		if walked {
			total = rs.wanted
		}
	}
	return &IncompleteError{Target: opts.Target, At: rs.stopAt, Files: rs.res.Files, Total: total, Fresh: fresh, Err: err}
}
