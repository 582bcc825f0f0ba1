//go:build !unix

package main

import "testing"

// reachExit130 and reachExit143 signal a real process; the Unix versions
// send it SIGINT and SIGTERM.
func reachExit130(t *testing.T) {
	t.Fatal("exit 130 is reached on Unix only (it sends chatsafe SIGINT)")
}

func reachExit143(t *testing.T) {
	t.Fatal("exit 143 is reached on Unix only (it sends chatsafe SIGTERM)")
}
