//go:build !unix

package main

import "testing"

// reachExit8 needs another user to make a file unreadable; the Unix
// version runs chatsafe as uid 65534.
func reachExit8(t *testing.T) {
	t.Fatal("exit 8 is reached on Unix only (it runs chatsafe as another user)")
}
