package source

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The app's checkpointer in a process of its own: SQLite's shm locks are
// POSIX record locks, which a process never sees (nor loses) for another
// process the way it does for itself, so only another process shows what
// the backup's locks do to the app.

const (
	envCheckpointDB   = "CHATSAFE_TEST_CHECKPOINT_DB"
	envCheckpointMode = "CHATSAFE_TEST_CHECKPOINT_MODE"
	envCheckpointBusy = "CHATSAFE_TEST_CHECKPOINT_BUSY_MS"
	envAppLoop        = "CHATSAFE_TEST_APP_LOOP_DB"
	envAppNext        = "CHATSAFE_TEST_APP_LAST_ID"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(envAppLoop); path != "" {
		os.Exit(runAppLoop(path))
	}
	if path := os.Getenv(envCheckpointDB); path != "" {
		os.Exit(runCheckpointer(path, os.Getenv(envCheckpointMode), os.Getenv(envCheckpointBusy)))
	}
	os.Exit(m.Run())
}

// runCheckpointer runs one `PRAGMA wal_checkpoint(mode)` with the given
// busy timeout and prints its three results.
func runCheckpointer(path, mode, busyMs string) int {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout("+busyMs+")")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer db.Close()
	var busy, logFrames, done int
	if err := db.QueryRow("PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &logFrames, &done); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Printf("%d %d %d\n", busy, logFrames, done)
	return 0
}

// checkpointer is the app's checkpoint running in another process.
type checkpointer struct {
	t   testing.TB
	cmd *exec.Cmd
	out strings.Builder
}

// startCheckpointer starts `PRAGMA wal_checkpoint(mode)` on path in a
// process of its own, with busy_timeout busyMs.
func startCheckpointer(t testing.TB, path, mode string, busyMs int) *checkpointer {
	t.Helper()
	c := &checkpointer{t: t, cmd: exec.Command(os.Args[0], "-test.run=^$")}
	c.cmd.Env = append(os.Environ(), envCheckpointDB+"="+path, envCheckpointMode+"="+mode, fmt.Sprintf("%s=%d", envCheckpointBusy, busyMs))
	c.cmd.Stdout = &c.out
	c.cmd.Stderr = &c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Kill() }) // ours; a no-op once it exited
	return c
}

// busy waits for the checkpoint to end and reports whether it returned
// busy (a reader was in its way until its busy timeout ran out). A
// checkpointer that failed counts as busy, with an error.
func (c *checkpointer) busy() bool {
	if err := c.cmd.Wait(); err != nil {
		c.t.Errorf("checkpointer: %v: %s", err, c.out.String())
		return true
	}
	var busy, logFrames, done int
	if _, err := fmt.Sscan(c.out.String(), &busy, &logFrames, &done); err != nil {
		c.t.Errorf("checkpointer printed %q: %v", c.out.String(), err)
		return true
	}
	return busy != 0
}

// checkpointNow runs the checkpoint in another process without waiting
// (busy_timeout 0) and reports whether a reader was in its way.
func checkpointNow(t testing.TB, path, mode string) bool {
	t.Helper()
	return startCheckpointer(t, path, mode, 0).busy()
}
