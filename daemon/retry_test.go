package daemon

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestCycleRetryBackoff: each failure schedules a retry, doubling up to
// the maximum; a success cancels the retry and starts over.
func TestCycleRetryBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newCycleRetry(5*time.Second, 20*time.Second)
		if r.C() != nil {
			t.Fatal("a retry is scheduled before any failure")
		}
		for _, want := range []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 20 * time.Second} {
			start := time.Now()
			if got := r.failed(); got != want {
				t.Fatalf("retry in %v, want %v", got, want)
			}
			<-r.C()
			r.fired()
			if took := time.Since(start); took != want {
				t.Fatalf("retry fired after %v, want %v", took, want)
			}
		}
		r.failed()
		r.succeeded()
		if r.C() != nil {
			t.Fatal("a retry is still scheduled after a success")
		}
		if got := r.failed(); got != 5*time.Second {
			t.Fatalf("after a success the backoff starts at %v, want 5s", got)
		}
		r.succeeded()
		time.Sleep(time.Minute)
		synctest.Wait()
	})
}
