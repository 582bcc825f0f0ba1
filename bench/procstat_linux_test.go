package main

import (
	"os"
	"testing"
)

func TestMinorFaultsOfThisProcess(t *testing.T) {
	n, err := minorFaults(os.Getpid())
	if err != nil || n <= 0 {
		t.Fatalf("minorFaults: %d, %v", n, err)
	}
}
