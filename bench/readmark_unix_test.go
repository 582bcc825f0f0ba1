//go:build unix

package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// The probe sees another process's read transaction on frames of the log,
// and not once it ended; the app's own connection does not count.
func TestReadMarkProbeSeesAnotherProcesssRead(t *testing.T) {
	cli, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("no sqlite3 command to stand for the daemon's read")
	}
	ctx := context.Background()
	c, err := Generate(ctx, filepath.Join(t.TempDir(), "chats"), tinySpec)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Writer.Close()
	if err := c.Writer.AddMessage(ctx); err != nil { // frames in the log
		t.Fatal(err)
	}
	probe, err := c.Writer.readMarks()
	if err != nil {
		t.Fatal(err)
	}
	if probe.held() {
		t.Fatal("a read lock is held before any other process reads")
	}
	cmd := exec.Command(cli, c.DBPath)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer in.Close() // sqlite3 ends at the end of its input
	// The count's line comes once the transaction holds its snapshot.
	fmt.Fprintln(in, "BEGIN; SELECT count(*) FROM messages;")
	if !bufio.NewScanner(out).Scan() {
		t.Fatal("the sqlite3 command answered nothing")
	}
	if !probe.held() {
		t.Error("the other process's read transaction on the log's frames is not seen")
	}
	fmt.Fprintln(in, "COMMIT;")
	fmt.Fprintln(in, ".quit")
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if probe.held() {
		t.Error("a read lock is still seen after the other process ended")
	}
}
