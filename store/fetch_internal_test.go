package store

import "testing"

// The fetch budget counts what a range's buffers pin: getRangeBuf hands
// out exactly pinnedBytes, a small range a small buffer, and a buffer
// given back comes out again for its class only.
func TestRangeBufPinsItsClass(t *testing.T) {
	for _, n := range []int64{0, 1, 4096, 64 << 10, 64<<10 + 1, 300 << 10, mergeLimit, mergeLimit + 1, 5 << 20} {
		b := getRangeBuf(n)
		if int64(len(b)) != n || int64(cap(b)) != pinnedBytes(n) {
			t.Fatalf("getRangeBuf(%d): len %d cap %d, pinnedBytes says %d", n, len(b), cap(b), pinnedBytes(n))
		}
		putRangeBuf(b)
	}
	if pinnedBytes(4096) != 64<<10 || pinnedBytes(mergeLimit) != mergeLimit || pinnedBytes(5<<20) != 5<<20 {
		t.Fatal("pinnedBytes does not follow the classes")
	}
}
