package statusui

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/statusapi"
)

// statusBackend answers with a given status.
type statusBackend struct {
	fakeBackend
	st statusapi.Status
}

func (s *statusBackend) Status() statusapi.Status { return s.st }

// getState is GET /api/state with the token, decoded.
func getState(t *testing.T, st statusapi.Status) State {
	t.Helper()
	h := NewHandler(&statusBackend{st: st}, testToken, "8385", nil)
	w := do(t, h, "GET", "/api/state", map[string]string{"Authorization": "Bearer " + testToken})
	if w.Code != 200 {
		t.Fatalf("GET /api/state: %d %s", w.Code, w.Body)
	}
	var s State
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAlertsSayWhatToDo: each state that stops the backups names the
// command that ends it, and status's error, vault, warning and unread
// lines follow in its order and words, the remote-supplied strings (a
// hostname, a path) carried as they are for the page to show as text.
func TestAlertsSayWhatToDo(t *testing.T) {
	vaultWarning := "3 wrong passwords were tried at the vault ...; if that was not you, set a new password with `chatsafe key set-password` (it resets the count)"
	st := statusapi.Status{
		State:     statusapi.StateTakenOver,
		LastError: "committing: the remote refused the upload",
		TakenOver: &statusapi.TakenOver{Device: "0123456789abcdef0123456789abcdef", Hostname: "<b>phone</b>", Time: time.Now()},
		Fork: &statusapi.Fork{Seq: 7, Branches: []statusapi.ForkBranch{
			{Delta: "d1", Seq: 8, Device: "aaaaaaaabbbb", Hostname: "laptop", Snapshots: []string{"s1"}},
			{Delta: "d2", Seq: 9, Device: "ccccccccdddd", Snapshots: []string{"s2", "s3"}},
		}},
		Damage:       []string{"delta 0009: authentication failed"},
		Vault:        &statusapi.Vault{FailedAttempts: 3, AttemptsLeft: 7, Warning: vaultWarning},
		Warnings:     []string{"the first snapshot since this device joined ..."},
		LastSnapshot: &statusapi.Snapshot{ShortID: "abcd1234", Incomplete: []statusapi.Omission{{Path: "Media/a.jpg", Reason: "permission denied"}}},
	}
	got := getState(t, st).Alerts
	want := []struct{ label, severity, has string }{
		{"taken over", SeverityBad, "<b>phone</b> (device 01234567) writes this repository now; this device backs up nothing (`chatsafe takeover` makes it the writer again)"},
		{"forked", SeverityBad, "forked from sequence 7 (two devices wrote at once); this device backs up nothing until `chatsafe fork resolve`"},
		{"damaged", SeverityBad, "this device backs up nothing until `chatsafe repair`"},
		{"error", SeverityBad, st.LastError},
		{"vault", SeverityWarn, vaultWarning},
		{"warning", SeverityWarn, st.Warnings[0]},
		{"unread", SeverityWarn, "Media/a.jpg: permission denied"},
	}
	if len(got) != len(want) {
		t.Fatalf("alerts: %+v", got)
	}
	for i, w := range want {
		if got[i].Label != w.label || got[i].Severity != w.severity || !strings.Contains(got[i].Text, w.has) {
			t.Errorf("alert %d: %+v, want %s (%s) saying %q", i, got[i], w.label, w.severity, w.has)
		}
	}
	if b := got[1].Items; len(b) != 2 || b[0] != "branch d1: sequence 8 by laptop (device aaaaaaaa), 1 snapshot since the fork" ||
		b[1] != "branch d2: sequence 9 by device cccccccc, 2 snapshots since the fork" {
		t.Errorf("fork branches: %q", b)
	}
	if d := got[2].Items; len(d) != 1 || d[0] != st.Damage[0] {
		t.Errorf("damage: %q", d)
	}

	// An erased key is the worse news.
	st = statusapi.Status{State: statusapi.StateIdle, Vault: &statusapi.Vault{Erased: true, Warning: "the vault erased this backup's key ..."}}
	if a := getState(t, st).Alerts; len(a) != 1 || a[0].Severity != SeverityBad || a[0].Label != "vault" {
		t.Errorf("erased key: %+v", a)
	}
	// All well: an empty box (the page hides it), not null.
	h := NewHandler(&statusBackend{st: statusapi.Status{State: statusapi.StateIdle, Vault: &statusapi.Vault{}}}, testToken, "8385", nil)
	if w := do(t, h, "GET", "/api/state", map[string]string{"Authorization": "Bearer " + testToken}); !strings.Contains(w.Body.String(), `"alerts":[]`) {
		t.Errorf("all well: %s", w.Body)
	}
}

// TestAlertsTakenOverOnce: taken over, the daemon's last error is the
// take-over itself; status prints it once, and so does the box (the
// taken-over line, which says what to run).
func TestAlertsTakenOverOnce(t *testing.T) {
	st := statusapi.Status{State: statusapi.StateTakenOver,
		LastError: "taken over: laptop (device 01234567) writes this repository now; this device backs up nothing until `chatsafe takeover`",
		TakenOver: &statusapi.TakenOver{Device: "0123456789abcdef", Hostname: "laptop", Time: time.Now()}}
	a := getState(t, st).Alerts
	if len(a) != 1 || a[0].Label != "taken over" {
		t.Errorf("taken over: %+v, want the taken-over line alone", a)
	}
}

// TestAlertsNameAFailingRemote: a remote failing while the cycles commit
// (state degraded) is on its own row and nowhere else in status; the box
// names it too, or the page would say all is well while one copy falls
// behind.
func TestAlertsNameAFailingRemote(t *testing.T) {
	st := statusapi.Status{State: statusapi.StateDegraded, Remotes: []statusapi.RemoteStatus{
		{Name: "local", Remote: "/srv/backup"},
		{Name: "nas", Remote: "webdav:chats", Queued: 3, LastError: "remote unreachable: connection refused"},
	}}
	a := getState(t, st).Alerts
	if len(a) != 1 || a[0].Label != "remote nas" || a[0].Severity != SeverityWarn ||
		!strings.Contains(a[0].Text, "connection refused") || !strings.Contains(a[0].Text, "3 deltas waiting") {
		t.Errorf("a failing remote: %+v, want one warning naming nas, its error and its 3 waiting deltas", a)
	}
}

// TestPageWritesNoMarkup: the page's script builds its elements and sets
// their text; it never parses a string as HTML (the state carries
// hostnames, paths and errors).
func TestPageWritesNoMarkup(t *testing.T) {
	b, err := webFS.ReadFile("web/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "createContextualFragment", "DOMParser"} {
		if strings.Contains(string(b), sink) {
			t.Errorf("app.js uses %s", sink)
		}
	}
}

// TestAlertsCarryTheConfig: the daemon of an installation whose config is
// not the default one names the commands to run with its --config.
func TestAlertsCarryTheConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "cs2", "chatsafe.yaml")
	st := statusapi.Status{State: statusapi.StateTakenOver, Config: cfg,
		TakenOver: &statusapi.TakenOver{Device: "0123456789abcdef", Hostname: "laptop", Time: time.Now()},
		Fork:      &statusapi.Fork{Seq: 7}, Damage: []string{"delta 0009: authentication failed"}}
	a := getState(t, st).Alerts
	if len(a) != 3 {
		t.Fatalf("alerts: %+v", a)
	}
	for i, cmd := range []string{"takeover", "fork resolve", "repair"} {
		if want := "`chatsafe " + cmd + " --config " + cfg + "`"; !strings.Contains(a[i].Text, want) {
			t.Errorf("%s alert: %q, want %s", a[i].Label, a[i].Text, want)
		}
	}
}
