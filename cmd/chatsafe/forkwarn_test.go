package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/remotes"
)

// TestForkWarnedOnce: in a forked history, each command warns of the
// fork once; check, which re-reads the remote it opened, said it twice.
func TestForkWarnedOnce(t *testing.T) {
	a, b, srv, _ := twoDevices(t)
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
	run(t, b.home, "snapshots", "--config", b.cfg).want(t, 0, "1")
	write(t, a.src, "msgstore.txt", "old phone, day 2")
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
	// A's delta 2 hidden while B commits its own 2, then put back.
	deltas, _ := filepath.Glob(filepath.Join(srv.ObjectsDir(), "deltas", "0000000000000002-*"))
	if len(deltas) != 1 {
		t.Fatalf("deltas of sequence 2: %v", deltas)
	}
	rem, err := remotes.Open(t.Context(), srv.Spec, remotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rem.Close()
	name := "deltas/" + filepath.Base(deltas[0])
	hidden, err := os.ReadFile(deltas[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := rem.Delete(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	write(t, b.src, "msgstore.txt", "new laptop, day 2")
	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")
	if err := rem.Put(t.Context(), name, bytes.NewReader(hidden), int64(len(hidden))); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{{"check"}, {"backup"}, {"prune"}} {
		r := run(t, a.home, append(args, "--config", a.cfg)...)
		r.want(t, exitIntegrity, "forked")
		saidOnce(t, r, "nothing is deleted until `chatsafe fork resolve`")
	}
}
