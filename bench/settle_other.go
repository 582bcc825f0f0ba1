//go:build !unix

package main

// settleDisk is sync(2) where there is one; elsewhere a phase starts as
// the previous one left the machine.
func settleDisk() {}
