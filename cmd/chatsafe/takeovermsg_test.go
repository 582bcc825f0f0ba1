package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/statusapi"
)

// TestTakeoverSaysTheRemotesNextSequence: A has not seen B's commits when
// it takes over. takeover reads the remote's head and states the sequence
// A's next backup really commits, names the device it takes over from
// (two devices may share a hostname: by its device id too), and says
// plainly that that device must be stopped, or it takes over again.
func TestTakeoverSaysTheRemotesNextSequence(t *testing.T) {
	a, b, _, _ := twoDevices(t)
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
	for _, day := range []string{"new laptop, day 2", "new laptop, day 3"} {
		write(t, b.src, "msgstore.txt", day)
		run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")
	}
	r := run(t, a.home, "takeover", "--config", a.cfg)
	r.want(t, 0, "next backup commits sequence 4")
	bShort := deviceOf(t, b)[:8]
	for _, want := range []string{"device " + bShort, "chatsafe service stop", "takes the repository back"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("takeover does not say %q:\n%s", want, r.stdout)
		}
	}
	write(t, a.src, "msgstore.txt", "old phone, day 4")
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
	var snaps []snapshotJSON
	if err := json.Unmarshal([]byte(run(t, a.home, "snapshots", "--config", a.cfg, "--json").stdout), &snaps); err != nil {
		t.Fatal(err)
	}
	if last := snaps[len(snaps)-1]; last.Seq != 4 || last.Device != deviceOf(t, a) {
		t.Fatalf("A's backup after takeover: seq %d by %s, want seq 4 by A", last.Seq, last.Device)
	}
}

// TestTakeoverBesideTheDaemon: the daemon holds the state directory; the
// refusal has its own exit code and says how to stop the daemon.
func TestTakeoverBesideTheDaemon(t *testing.T) {
	s := newSetup(t)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	holdState(t, s.cfg)
	r := run(t, s.home, "takeover", "--config", s.cfg)
	r.want(t, exitStateInUse, "chatsafe service stop")
}

// TestStatusTakenOver: A's daemon, taken over by B (one hostname for
// both, as on one machine), shows whose snapshot it shows and who took
// over by device id and source, and exits 7 as backup does.
func TestStatusTakenOver(t *testing.T) {
	a, b, _, _ := twoDevices(t)
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
	write(t, b.src, "msgstore.txt", "new laptop, day 2")
	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")
	sock := filepath.Join(a.home, "run", "a.sock")
	setSocket(t, a.cfg, sock)
	startDaemonBinary(t, a.home, a.cfg, sock)
	waitStatus(t, sock, nil, func(st statusapi.Status) bool { return st.State == statusapi.StateTakenOver }, func(st statusapi.Status, err error) string {
		return fmt.Sprintf("A's daemon is not taken over: %+v %v", st, err)
	}, nil)

	r := run(t, a.home, "status", "--config", a.cfg)
	bShort := deviceOf(t, b)[:8]
	if r.code != exitTakenOver {
		t.Errorf("status of a taken-over daemon exits %d, want %d", r.code, exitTakenOver)
	}
	var snapLines []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "snapshot:") || strings.HasPrefix(l, "  by ") {
			snapLines = append(snapLines, l)
		}
	}
	snap := strings.Join(snapLines, "\n")
	if !strings.Contains(snap, "device "+bShort) || !strings.Contains(snap, b.src) {
		t.Errorf("status does not say the snapshot is B's (device %s, %s):\n%s", bShort, b.src, r.stdout)
	}
	if !strings.Contains(r.stdout+r.stderr, "taken over") || strings.Count(r.stdout+r.stderr, "device "+bShort) < 2 {
		t.Errorf("status does not name the device that took over by its id %s:\n%s\n%s", bShort, r.stdout, r.stderr)
	}
	j := run(t, a.home, "status", "--config", a.cfg, "--json")
	var st statusapi.Status
	if err := json.Unmarshal([]byte(j.stdout), &st); err != nil || st.State != statusapi.StateTakenOver || j.code != exitTakenOver {
		t.Errorf("status --json: exit %d, %v, %+v", j.code, err, st)
	}
}
