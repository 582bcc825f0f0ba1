package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/statusapi"
)

// The README's first command, `chatsafe daemon --source DIR` with no
// config, run again with another folder on the installation it made: the
// daemon refuses (exit 2) and backs nothing up; the same folder, however
// spelled, starts it. As an ordinary user whose HOME and XDG dirs are
// temp dirs.
func TestEmbeddedDefaultsRefuseAnotherSource(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test must run as root (it runs the daemon as uid 65534)")
	}
	home, src, xdg, env := unprivilegedHome(t)
	other := filepath.Join(home, "other-chats")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(other, "someone-else.txt"), []byte("another history"), 0o644)
	filepath.Walk(other, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 65534, 65534) })
	nobody := &credential{Uid: 65534, Gid: 65534}
	sock := filepath.Join(xdg["XDG_RUNTIME_DIR"], "chatsafe", "chatsafe.sock")
	cfgPath := filepath.Join(xdg["XDG_CONFIG_HOME"], "chatsafe", "config.yaml")

	p := startDaemon(t, env, nobody, "--source", src)
	waitStatus(t, p, sock, "the first snapshot on defaults", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	if code, _ := p.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	cfgBefore, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}

	p2 := startDaemon(t, env, nobody, "--source", other)
	select {
	case <-p2.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the daemon on another source did not exit within 60s (it runs, backing %s up into the installation of %s)", other, src)
	}
	if code := p2.cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(p2.errOut.String(), other) || !strings.Contains(p2.errOut.String(), "source:") {
		t.Fatalf("another source: exit %d, want 2 naming %s and the config's source line:\n%s", code, other, p2.errOut.String())
	}
	if cfgAfter, _ := os.ReadFile(cfgPath); string(cfgAfter) != string(cfgBefore) {
		t.Fatalf("the refused start changed the config:\n%s", cfgAfter)
	}

	p3 := startDaemon(t, env, nobody, "--source", src+string(filepath.Separator))
	st := waitStatus(t, p3, sock, "the daemon on the same source", idle)
	if st.Source != src {
		t.Fatalf("the daemon backs up %q, want %q", st.Source, src)
	}
	if code, _ := p3.stop(t); code != 0 {
		t.Fatalf("same source: exit %d", code)
	}
}
