package source

import (
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
)

// txTrace times what the app's checkpoint may wait for: the stretches a
// read holds a read transaction open without looking at the checkpoint
// lock (checkpointWaits). A RESTART or TRUNCATE checkpoint that begins
// waiting in such a stretch waits until its end, rounded up to its busy
// handler's next retry (1, 3, 8 ms ...). The read logs the longest
// stretch, and what the read was doing in it, at debug level when it ends.
type txTrace struct {
	open  bool
	began time.Time // the open transaction's BEGIN
	since time.Time // the last look at the lock in it, or its BEGIN
	phase string    // what the read does now
	spans []span    // the phases since `since`
	txs   int       // transactions begun
	// longestTx is the longest transaction; blind the longest stretch
	// without a look, blindIn the phases it spanned; seen counts the
	// looks that found the lock held.
	longestTx time.Duration
	blind     time.Duration
	blindIn   string
	seen      int
	logged    bool
}

// span is a phase of a stretch and when it began in it.
type span struct {
	phase string
	at    time.Time
}

// begin records a transaction's BEGIN at t.
func (r *txTrace) begin(t time.Time) {
	r.open, r.began, r.since = true, t, t
	r.spans = append(r.spans[:0], span{r.phase, t})
	r.txs++
}

// at records that the read now does phase.
func (r *txTrace) at(phase string) {
	r.phase = phase
	if r.open && r.spans[len(r.spans)-1].phase != phase {
		r.spans = append(r.spans, span{phase, time.Now()})
	}
}

// look records a look at the checkpoint lock (held: it was).
func (r *txTrace) look(held bool) {
	if !r.open {
		return
	}
	now := time.Now()
	r.stretch(now)
	r.since = now
	r.spans = append(r.spans[:0], span{r.phase, now})
	if held {
		r.seen++
	}
}

// end records the end of the open transaction, if any.
func (r *txTrace) end() {
	if !r.open {
		return
	}
	now := time.Now()
	r.stretch(now)
	r.longestTx = max(r.longestTx, now.Sub(r.began))
	r.open = false
}

// stretch records the stretch ending now if it is the longest, with
// how long each of its phases took ("open 0.4ms>plan 0.1ms>pages 2ms").
func (r *txTrace) stretch(now time.Time) {
	d := now.Sub(r.since)
	if d <= r.blind {
		return
	}
	parts := make([]string, len(r.spans))
	for i, sp := range r.spans {
		end := now
		if i+1 < len(r.spans) {
			end = r.spans[i+1].at
		}
		parts[i] = fmt.Sprintf("%s %s", sp.phase, end.Sub(sp.at).Round(10*time.Microsecond))
	}
	r.blind, r.blindIn = d, strings.Join(parts, ">")
}

// log writes the summary once, at debug level.
func (r *txTrace) log(log *zap.Logger, rel string) {
	if r.logged || log == nil || r.txs == 0 {
		return
	}
	r.logged = true
	log.Debug("read transactions", zap.String("path", rel), zap.Int("transactions", r.txs),
		zap.Duration("longest", r.longestTx), zap.Duration("longest_without_look", r.blind),
		zap.String("in", r.blindIn), zap.Int("checkpointer_seen", r.seen))
}
