package store

import "testing"

// TestWorkerBufsGoAfterSmallJobs: a worker's buffers grown by a big job
// go after leftoverAfter small jobs in a row; ones a small job needs stay,
// and a big job in between starts the count again.
func TestWorkerBufsGoAfterSmallJobs(t *testing.T) {
	var b workerBufs
	b.seal, b.scratch = make([]byte, 0, 2<<20), make([]byte, 0, 2<<20)
	for range leftoverAfter - 1 {
		b.after(false)
	}
	b.after(true)
	for range leftoverAfter - 1 {
		b.after(false)
	}
	if b.seal == nil || b.scratch == nil {
		t.Fatal("buffers went before leftoverAfter small jobs in a row")
	}
	b.after(false)
	if b.seal != nil || b.scratch != nil {
		t.Fatalf("buffers of %d and %d bytes kept after %d small jobs", cap(b.seal), cap(b.scratch), leftoverAfter)
	}
	b.seal = make([]byte, 0, smallBufCap)
	b.small = 0
	for range 2 * leftoverAfter {
		b.after(false)
	}
	if b.seal == nil {
		t.Fatal("a buffer a small job needs went")
	}
}
