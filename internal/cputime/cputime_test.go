package cputime

import "testing"

func TestProcessGrows(t *testing.T) {
	before, err := Process()
	if err != nil {
		t.Fatal(err)
	}
	x := uint64(1)
	for i := 0; i < 50_000_000; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	after, err := Process()
	if err != nil {
		t.Fatal(err)
	}
	if after <= before || x == 0 {
		t.Fatalf("CPU time did not grow over a busy loop: %v then %v", before, after)
	}
}
