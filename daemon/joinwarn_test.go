package daemon_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/statusapi"
)

// backupOnce runs one backup of in and uploads it, as `chatsafe backup`
// does with no daemon running.
func backupOnce(t *testing.T, in *install) {
	t.Helper()
	cfg := in.config(t)
	inst, err := instance.Open(t.Context(), cfg, instance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	if _, err := backup.Run(t.Context(), inst.Store, backup.Options{Source: cfg.Source}); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Store.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// restoreJoin is `chatsafe restore --join` of a's newest snapshot on a new
// device: the restore, then instance.Join with its sequence.
func restoreJoin(t *testing.T, a *install) *install {
	t.Helper()
	dir := t.TempDir()
	b := &install{dir: dir, src: filepath.Join(dir, "chats"), state: filepath.Join(dir, "state"),
		cfgPath: filepath.Join(dir, "chatsafe.yaml"), sock: filepath.Join(dir, "run", "chatsafe.sock"), remotes: a.remotes, key: a.key}
	restored := restoreFrom(t, a.remotes[0], a.key)
	if err := os.Rename(restored, b.src); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf("source: %s\nstate_dir: %s\nstatus_socket: %s\nremotes:\n  - name: r0\n    url: %q\nsync:\n  quiet_period: 150ms\n  max_delay: 1s\n",
		b.src, b.state, b.sock, a.remotes[0])
	cfg, err := configs.Parse(b.cfgPath, []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	rems, err := instance.OpenRemotes(t.Context(), cfg, remotes.RetryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer instance.CloseRemotes(rems)
	if _, err := instance.Join(t.Context(), cfg, b.cfgPath, a.key, rems, instance.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	return b
}

// joinedBehind is device B, which restored and joined at device A's
// sequence 1, after A backed up twice more (sequences 2 and 3): B's first
// cycle commits on a head A moved.
func joinedBehind(t *testing.T) *install {
	t.Helper()
	a := newInstall(t, 1)
	chatA := openChat(t, a.src)
	chatA.write(t, 10)
	backupOnce(t, a)
	b := restoreJoin(t, a)
	chatA.write(t, 10)
	backupOnce(t, a)
	chatA.write(t, 12)
	backupOnce(t, a)
	return b
}

// TestJoinedDaemonWarnsHeadMoved: B restored and joined at A's sequence 1;
// A backed up twice more before B's daemon started. B's first cycle
// commits on A's sequence 3 (a new phone goes on backing up what it has)
// and says, in its log, its status and the cycle's warnings, that A's
// snapshots of sequences 2 to 3 may hold what B's chats lack.
func TestJoinedDaemonWarnsHeadMoved(t *testing.T) {
	b := joinedBehind(t)

	log := &syncBuf{}
	d := runInProcessLog(t, b, daemon.Options{}, log)
	waitFor(t, d, "B's first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && st.LastSnapshot.Seq == 4 })
	res, err := d.Backup(t.Context(), statusapi.BackupRequest{})
	if err != nil {
		t.Fatal(err)
	}
	status := statusJSON(d.Status())
	for _, want := range []string{"joined at sequence 1", "sequences 2 to 3"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("B's daemon log does not say %q:\n%s", want, log.String())
		}
		if !strings.Contains(status, want) {
			t.Errorf("B's status does not say %q: %s", want, status)
		}
	}
	// The warning went with the cycle that committed on A's head; the
	// requested backup after it has none.
	if len(res.Warnings) != 0 {
		t.Errorf("B's second backup warns: %q", res.Warnings)
	}
}
