package watcher

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"
)

// Reasons given in ChangeSet.Reason.
const (
	ReasonFirstRun  = "first run"
	ReasonChanges   = "changes"
	ReasonRequested = "requested"
	ReasonPeriodic  = "periodic full scan"
	ReasonOverflow  = "event queue overflow"
	ReasonPolling   = "polling (file-system events unavailable)"
)

// input is one thing the front-end tells the aggregator.
type input struct {
	paths  []string // relative slash paths, already mapped and filtered
	full   bool     // a full scan is needed
	reason string   // for full inputs
	// now skips the quiet period: the set is offered at once.
	now bool
}

// aggregator turns a stream of inputs into ChangeSets: paths seen within a
// quiet period are batched, a steady stream is cut at maxDelay, and a full
// scan is requested every fullEvery (plus up to 10 % jitter) without any
// other timer running while idle. It touches no file system, and its only
// clock is package time, so testing/synctest drives it in fake time.
//
// A set that is ready but not yet taken keeps absorbing inputs, so a slow
// consumer sees fewer, larger sets rather than a backlog.
type aggregator struct {
	quiet, maxDelay, fullEvery time.Duration
	in                         chan input
	out                        chan ChangeSet
	// jitter returns the extra wait, in [0, d/10], before a periodic scan.
	jitter func(d time.Duration) time.Duration
}

func newAggregator(quiet, maxDelay, fullEvery time.Duration) *aggregator {
	return &aggregator{
		quiet: quiet, maxDelay: maxDelay, fullEvery: fullEvery,
		in:  make(chan input),
		out: make(chan ChangeSet),
		jitter: func(d time.Duration) time.Duration {
			if d < 10 {
				return 0
			}
			return rand.N(d/10 + 1)
		},
	}
}

// pending is the set being assembled.
type pending struct {
	paths     map[string]struct{}
	full      bool
	reason    string
	requested bool
	active    bool // something is pending
}

func (p *pending) add(in input) {
	p.active = true
	if in.full && !p.full {
		p.full, p.reason = true, in.reason
	}
	if in.now && !in.full {
		p.requested = true
	}
	if p.full {
		p.paths = nil // a full scan covers every path
		return
	}
	for _, s := range in.paths {
		if p.paths == nil {
			p.paths = make(map[string]struct{})
		}
		p.paths[s] = struct{}{}
	}
}

func (p *pending) changeSet() ChangeSet {
	if p.full {
		return ChangeSet{FullScan: true, Reason: p.reason}
	}
	cs := ChangeSet{Paths: make([]string, 0, len(p.paths)), Reason: ReasonChanges}
	for s := range p.paths {
		cs.Paths = append(cs.Paths, s)
	}
	slices.Sort(cs.Paths)
	if p.requested {
		cs.Reason = ReasonRequested
	}
	return cs
}

// merge folds b, which is newer, into a.
func merge(a, b ChangeSet) ChangeSet {
	switch {
	case a.FullScan:
		return a
	case b.FullScan:
		return b
	}
	out := ChangeSet{Paths: append(a.Paths, b.Paths...), Reason: a.Reason}
	slices.Sort(out.Paths)
	out.Paths = slices.Compact(out.Paths)
	if b.Reason == ReasonRequested {
		out.Reason = ReasonRequested
	}
	return out
}

// run aggregates until ctx is done. first, if set, is pending at start.
//
// A set becomes ready when its quiet period or max delay expires (or at
// once for a request, a periodic scan or polling) and is then offered on
// out. While it waits for the consumer, new inputs form the next set, with
// its own timers; if that one is ready before the first was taken, the two
// are merged. So a slow consumer sees fewer, larger sets, never a backlog.
func (a *aggregator) run(ctx context.Context, first *input) {
	var p pending
	var ready *ChangeSet
	// Timers are stopped unless something waits for them: idle, only the
	// full-scan timer is armed.
	quietT := time.NewTimer(time.Hour)
	quietT.Stop()
	maxT := time.NewTimer(time.Hour)
	maxT.Stop()
	fullT := time.NewTimer(a.fullEvery + a.jitter(a.fullEvery))
	defer quietT.Stop()
	defer maxT.Stop()
	defer fullT.Stop()

	promote := func() {
		if !p.active {
			return
		}
		quietT.Stop()
		maxT.Stop()
		cs := p.changeSet()
		p = pending{}
		if ready == nil {
			ready = &cs
		} else {
			*ready = merge(*ready, cs)
		}
	}
	accept := func(in input) {
		wasActive := p.active
		p.add(in)
		if in.now {
			promote()
			return
		}
		if !wasActive {
			maxT.Reset(a.maxDelay)
		}
		quietT.Reset(a.quiet)
	}
	if first != nil {
		accept(*first)
	}
	for {
		var out chan ChangeSet
		var cs ChangeSet
		if ready != nil {
			out, cs = a.out, *ready
		}
		select {
		case <-ctx.Done():
			return
		case in := <-a.in:
			accept(in)
		case <-quietT.C:
			promote()
		case <-maxT.C:
			promote()
		case <-fullT.C:
			accept(input{full: true, reason: ReasonPeriodic, now: true})
		case out <- cs:
			ready = nil
			if cs.FullScan {
				// A full scan is starting now: the next periodic one is
				// due a whole interval later.
				fullT.Reset(a.fullEvery + a.jitter(a.fullEvery))
			}
		}
	}
}
