package daemon

import (
	"sync"
	"time"

	"github.com/chatsafe/chatsafe/statusapi"
)

// eventBus fans events out to the /v1/events streams. A subscriber that
// does not keep up loses events rather than slowing the daemon.
type eventBus struct {
	mu   sync.Mutex
	subs map[chan statusapi.Event]struct{}
	tap  func(statusapi.Event) // sees every event (the status page's history)
}

func newEventBus() *eventBus { return &eventBus{subs: map[chan statusapi.Event]struct{}{}} }

func (b *eventBus) publish(ev statusapi.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	if b.tap != nil {
		b.tap(ev)
	}
	b.send(ev)
}

// send is publish without the tap: to the streams alone.
func (b *eventBus) send(ev statusapi.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

func (b *eventBus) subscribe() (<-chan statusapi.Event, func()) {
	ch := make(chan statusapi.Event, 64)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}
