package daemon

import (
	"context"
	"testing"
	"testing/synctest"
)

// TestUploadGate: pause cancels a pass in flight and returns once it has
// ended; a new pass waits until resume.
func TestUploadGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newUploadGate()
		pctx, done, err := g.enter(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ended := make(chan struct{})
		go func() {
			<-pctx.Done() // an upload that stops when cancelled
			close(ended)  // its last work, before it reports the pass over
			done()
		}()
		g.pause()
		select {
		case <-ended:
		default:
			t.Fatal("pause returned before the pass in flight ended")
		}

		entered := make(chan struct{})
		go func() {
			_, done, err := g.enter(t.Context())
			if err == nil {
				done()
			}
			close(entered)
		}()
		synctest.Wait()
		select {
		case <-entered:
			t.Fatal("a pass started while paused")
		default:
		}
		g.resume()
		<-entered

		// A pass waiting on a pause gives up when its context ends.
		g.pause()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, _, err := g.enter(ctx); err == nil {
			t.Fatal("enter while paused with a cancelled context succeeded")
		}
		g.resume()
	})
}
