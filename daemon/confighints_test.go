package daemon_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusui"
	"github.com/chatsafe/chatsafe/store"
)

// TestDaemonHintsCarryTheConfig: a daemon of an installation whose config
// is not the default one names the commands its log, its errors and its
// status page tell to run with that config's --config: copied without
// it, they would run against the default installation.
func TestDaemonHintsCarryTheConfig(t *testing.T) {
	a := newInstall(t, 1)
	cfg, err := configs.Load(a.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.UIListen = "127.0.0.1:0"
	if err := cfg.Write(a.cfgPath); err != nil {
		t.Fatal(err)
	}
	inst := cmdline.For(a.cfgPath)
	if inst.Flag() == "" {
		t.Fatalf("%s is this user's default config", a.cfgPath)
	}
	chatA := openChat(t, a.src)
	chatA.write(t, 10)
	logA := &syncBuf{}
	da := runInProcessLog(t, a, daemon.Options{}, logA)
	waitFor(t, da, "device A's first snapshot uploaded", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	if want := `"open_with":"` + inst.Line("ui") + `"`; !strings.Contains(logA.String(), want) {
		t.Errorf("the log does not say %s:\n%s", want, logA.String())
	}

	b := joinInstall(t, a)
	chatB := openChat(t, b.src)
	chatB.write(t, 20)
	db := runInProcess(t, b, daemon.Options{})
	waitFor(t, db, "device B's snapshot uploaded", func(st statusapi.Status) bool {
		return st.LastSnapshot != nil && st.LastSnapshot.Seq >= 2 && idle(st)
	})
	chatA.write(t, 5)
	takeover := inst.Cmd("takeover")
	if _, err := da.Backup(t.Context(), statusapi.BackupRequest{}); !errors.Is(err, store.ErrTakenOver) || !strings.Contains(err.Error(), takeover) {
		t.Errorf("device A's backup after B wrote: %v, want taken over, saying %s", err, takeover)
	}
	st := waitFor(t, da, "device A taken over", func(st statusapi.Status) bool { return st.State == statusapi.StateTakenOver })
	if !strings.Contains(st.LastError, takeover) {
		t.Errorf("the status's error does not say %s: %s", takeover, st.LastError)
	}
	h := statusui.NewHandler(da, "token", "8385", nil)
	req := httptest.NewRequest("GET", "/api/state", nil)
	req.Host = "127.0.0.1:8385"
	req.Header.Set("Authorization", "Bearer token")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), takeover) || strings.Contains(w.Body.String(), "`chatsafe takeover`") {
		t.Errorf("the status page's state does not say %s: %d %s", takeover, w.Code, w.Body)
	}
	for _, l := range strings.Split(logA.String(), "\n") {
		if strings.Contains(l, "`chatsafe takeover`") {
			t.Errorf("a log line says a bare `chatsafe takeover`: %s", l)
		}
	}
}
