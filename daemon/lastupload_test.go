package daemon_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/statusapi"
)

// staticSource is a chat directory of 20 messages that nothing changes
// any more (the app's database closed, its WAL checkpointed), so that a
// daemon started on it after a backup has nothing new to upload.
func staticSource(t *testing.T, in *install) {
	t.Helper()
	chat := openChat(t, in.src)
	chat.write(t, 20)
	if err := chat.db.Close(); err != nil {
		t.Fatal(err)
	}
}

// restUploaded is a status at rest after the repository opened: every
// remote listed and holding every live delta.
func restUploaded(st statusapi.Status) bool {
	return st.RepositoryID != "" && st.LastSnapshot != nil && len(st.Remotes) == 2 && idle(st)
}

// TestLastUploadSurvivesRestart: a real daemon uploads, is stopped and
// started again; the restarted daemon, with nothing new to upload, still
// says when each remote last got a delta, the very time it said before.
func TestLastUploadSurvivesRestart(t *testing.T) {
	in := newInstall(t, 2)
	staticSource(t, in)
	p := startDaemon(t, nil, nil, "--config", in.cfgPath)
	before := waitStatus(t, p, in.sock, "the first snapshot on every remote", func(st statusapi.Status) bool {
		return restUploaded(st) && st.Remotes[0].LastUpload != nil && st.Remotes[1].LastUpload != nil
	})
	if code, _ := p.stop(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}

	p = startDaemon(t, nil, nil, "--config", in.cfgPath)
	after := waitStatus(t, p, in.sock, "the restarted daemon at rest", restUploaded)
	if after.LastSnapshot.Seq != before.LastSnapshot.Seq {
		t.Fatalf("the restarted daemon committed again (seq %d, before %d): the source was to stay as it was", after.LastSnapshot.Seq, before.LastSnapshot.Seq)
	}
	for i, r := range after.Remotes {
		want := before.Remotes[i].LastUpload
		if r.LastUpload == nil || !r.LastUpload.Equal(*want) {
			t.Errorf("after the restart, %s's last upload is %v, want %v (before the restart)", r.Name, r.LastUpload, want)
		}
	}
}

// TestLastUploadOfCLIBackup: `chatsafe backup` with no daemon running
// uploads; a daemon started afterwards says when, and so does `chatsafe
// status`.
func TestLastUploadOfCLIBackup(t *testing.T) {
	in := newInstall(t, 2)
	staticSource(t, in)
	start := time.Now()
	out, err := exec.Command(binary, "backup", "--config", in.cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("backup without a daemon: %v\n%s", err, out)
	}
	end := time.Now()

	p := startDaemon(t, nil, nil, "--config", in.cfgPath)
	st := waitStatus(t, p, in.sock, "the daemon at rest", restUploaded)
	for _, r := range st.Remotes {
		if r.LastUpload == nil || r.LastUpload.Before(start) || r.LastUpload.After(end) {
			t.Errorf("%s's last upload is %v, want the backup's, between %v and %v", r.Name, r.LastUpload, start, end)
		}
	}
	human, err := exec.Command(binary, "status", "--config", in.cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, human)
	}
	for _, name := range []string{"r0", "r1"} {
		found := false
		for line := range strings.Lines(string(human)) {
			if strings.HasPrefix(strings.TrimSpace(line), name+" ") {
				found = strings.Contains(line, "up to date; last upload ")
			}
		}
		if !found {
			t.Errorf("`chatsafe status` does not say when %s last got a delta:\n%s", name, human)
		}
	}
}

// TestStatusPageAfterRestart: after a restart the status page says when
// each remote last got a delta, not "never", and of the delta sizes and
// uploads this daemon has not seen it says that none came since it
// started, not that there were no backups.
func TestStatusPageAfterRestart(t *testing.T) {
	in := newInstall(t, 2)
	withListeners(t, in)
	staticSource(t, in)
	d := runInProcess(t, in, daemon.Options{})
	backupAndWaitUploads(t, d, 2)
	stopInProcess(d)

	d = runInProcess(t, in, daemon.Options{})
	st := waitFor(t, d, "the restarted daemon at rest", restUploaded)
	for _, r := range st.Remotes {
		if r.LastUpload == nil {
			t.Errorf("after the restart the status has no last upload for %s", r.Name)
		}
	}
	tctx, wait, _ := openStatusPage(t, d, in)
	wait(`document.body.dataset.loaded === "1" && document.querySelectorAll("#remotes tr").length === 2`)
	for i, r := range st.Remotes {
		if r.LastUpload == nil {
			continue
		}
		at := jsString(r.LastUpload.Format(time.RFC3339Nano))
		wait(fmt.Sprintf(`document.querySelectorAll("#remotes tr")[%d].children[3].textContent === new Date(%s).toLocaleString()`, i, at))
	}
	since := `"none since the daemon started at "`
	wait(`document.getElementById("chart-sizes").textContent.startsWith(` + since + `)`)
	wait(`document.getElementById("uploads").textContent.startsWith(` + since + `)`)
	shot(t, tctx, "status-page-restarted.png")
}
