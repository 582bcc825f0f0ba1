package source

import (
	"fmt"
	"hash/fnv"
	"time"
)

// Whole reads on a schedule. An incremental read carries every page it
// does not read over from the previous snapshot, so were one of
// docs/sqlite.md's rules ever wrong (it names recovery paths still open),
// a page carried wrongly would stay wrong in every later snapshot. A
// database is therefore read whole at least once per Options.FullReadEvery,
// whatever the rules say, and the time of its last whole read is kept in
// its file cache entry (cacheEntry.WholeRead).

// DefaultFullReadEvery is Options.FullReadEvery when it is not set.
const DefaultFullReadEvery = 24 * time.Hour

// clockSlack is how far in the future a last whole read may lie without
// counting as a clock set back: the steps a time daemon makes.
const clockSlack = 10 * time.Minute

// wholeReads is what decides whether a database is due for a whole read.
type wholeReads struct {
	now   time.Time     // the read's time (Scanner.now)
	every time.Duration // the longest time between two whole reads
	rel   string        // the database's path: its place in the spread
}

// due says why a database last read whole at last (zero: never recorded)
// must be read whole now; "" when it need not. Each database comes due a
// little before every has passed, by up to an eighth of it, keyed on its
// path: databases read whole in the same cycle (the first, or the one
// after an upgrade) drift apart instead of coming due together every
// time. A last whole read recorded more than clockSlack in the future (the
// clock was set back) counts as due too: the time since it is unknown, and
// waiting for the clock to catch up would stretch the bound by as much.
func (r wholeReads) due(last time.Time) string {
	if last.IsZero() {
		return "no whole read recorded (a file cache from an older version)"
	}
	limit := r.every - spread(r.rel, r.every)
	switch since := r.now.Sub(last); {
	case since >= limit:
		return fmt.Sprintf("last whole read more than %s ago", limit.Round(time.Second))
	case -since > clockSlack:
		return fmt.Sprintf("last whole read recorded %s from now (the clock was set back)", (-since).Round(time.Second))
	}
	return ""
}

// spread is how much earlier than every the database at rel comes due:
// between 0 and every/8, the same every time.
func spread(rel string, every time.Duration) time.Duration {
	h := fnv.New32a()
	h.Write([]byte(rel))
	return every / 8 / 1024 * time.Duration(h.Sum32()%1024)
}
