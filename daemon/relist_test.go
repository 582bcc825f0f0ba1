package daemon_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/statusapi"
)

// listGate holds the next List on a remote, once armed, until released:
// a remote slow to answer the listing an uploader makes when it starts.
type listGate struct {
	remotes.Remote
	armed   *atomic.Bool
	entered chan struct{} // closed when the held List starts
	release chan struct{}
}

func (g *listGate) List(ctx context.Context, dir string) ([]remotes.ObjectInfo, error) {
	if g.armed.CompareAndSwap(true, false) {
		close(g.entered)
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Remote.List(ctx, dir)
}

// TestRelistAfterReloadIsPublished: after a reload each uploader lists its
// remote before it knows what the remote holds, and until then the status
// counts every live delta as queued for it. When the listing shows the
// remote complete, the status changes with nothing uploaded; subscribers
// (the status page, anything waiting for idle) must hear of it, or they
// wait for ever. TestReloadBackfillsNewRemote could time out that way when
// the first remote's listing ended after the added one's back-fill.
func TestRelistAfterReloadIsPublished(t *testing.T) {
	in := newInstall(t, 1)
	chat := openChat(t, in.src)
	chat.write(t, 10)
	var armed atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	d := runInProcess(t, in, daemon.Options{
		Reload: func() (*configs.Config, error) { return configs.Load(in.cfgPath) },
		WrapUpload: func(r remotes.Remote) remotes.Remote {
			return &listGate{Remote: r, armed: &armed, entered: entered, release: release}
		},
	})
	waitFor(t, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	cycles := len(d.History().Cycles)
	armed.Store(true)
	d.Reload()
	select {
	case <-entered:
	case <-time.After(60 * time.Second):
		t.Fatal("the new session's uploader never listed its remote")
	}
	// The new session's first cycle (a full scan) ends on its own; its
	// events must not be what wakes the waiter below.
	pollUntil(t, "the new session's first cycle", func() bool {
		return len(d.History().Cycles) > cycles && d.Status().State != statusapi.StateScanning
	})
	ch, cancel := d.Subscribe()
	defer cancel()
	if st := d.Status(); idle(st) {
		t.Fatalf("status while the remote is being listed: %s; want its live delta counted as queued", statusJSON(st))
	}
	close(release)
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case <-ch:
			if idle(d.Status()) {
				return
			}
		case <-deadline.C:
			t.Fatalf("the remote was listed complete, but no event told subscribers; status %s", statusJSON(d.Status()))
		}
	}
}

// pollUntil polls cond, for state that announces no event of its own,
// until it holds or a generous deadline passes.
func pollUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
