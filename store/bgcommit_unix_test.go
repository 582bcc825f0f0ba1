//go:build unix

package store_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// A real SIGKILL of a child process: Unix only (Windows has no signal to
// kill oneself with; the crash points are covered there by the cancel and
// error tests).

// bgChildEnv makes this test binary the child of TestKill9DuringFullDeltaCommit:
// "point remote state source recovery-key".
const bgChildEnv = "CHATSAFE_BGCOMMIT_CHILD"

// TestKill9DuringFullDeltaCommit: a process killed (SIGKILL) at each step
// of a background commit loses nothing committed: the store opens on the
// same state directory, the previous snapshot restores, and the next
// backup completes.
func TestKill9DuringFullDeltaCommit(t *testing.T) {
	if args := os.Getenv(bgChildEnv); args != "" {
		killedChild(t, strings.Fields(args))
		return
	}
	for _, point := range []string{"writer:committing-full", "writer:committed-full"} {
		t.Run(point, func(t *testing.T) {
			e := storetest.NewEnv(t)
			state := t.TempDir()
			r, first := firstSnapshot(t, e, state)
			r.Close()

			cmd := exec.CommandContext(e.Ctx, os.Args[0], "-test.run=^TestKill9DuringFullDeltaCommit$", "-test.count=1")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %s %s %s", bgChildEnv, point, e.RemoteDir, state, e.Src, e.Key.RecoveryKey()))
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child with %s armed: %v (want killed by SIGKILL)\n%s", point, err, out)
			}

			r = openCapped(t, e, state)
			defer r.Close()
			if got := spoolPartials(t, state); got != 0 {
				t.Fatalf("%d partial deltas left in the spool after reopening", got)
			}
			if _, err := r.Sync(e.Ctx); err != nil {
				t.Fatal(err)
			}
			checkChain(t, r, len(store.HeadChain(r)))
			checkRestores(t, e, first)
			nextBackupCompletes(t, e, r)
		})
	}
}

// killedChild backs up args' source under the 1 MiB cap and kills itself
// with SIGKILL at args' point.
func killedChild(t *testing.T, args []string) {
	point, remoteDir, state, src := args[0], args[1], args[2], args[3]
	key, err := crypt.ParseRecoveryKey(args[4])
	if err != nil {
		t.Fatal(err)
	}
	faults.Hook = func(p string) error {
		if p == point {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		return nil
	}
	r, err := store.Open(t.Context(), storetest.OpenRemote(t, remoteDir), key, store.Options{StateDir: state, DeltaSizeCap: bgCap})
	if err != nil {
		t.Fatal(err)
	}
	_, err = backup.Run(t.Context(), r, backup.Options{Source: src})
	t.Fatalf("the backup reached its end without passing %s: %v", point, err)
}
