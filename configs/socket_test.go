package configs

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Two installations never share a socket: the default one keeps the
// well-known path, any other state directory gets its own.
func TestDefaultSocketPerInstallation(t *testing.T) {
	for _, uid := range []int{0, 1000} {
		asUser(t, uid)
		t.Setenv("HOME", t.TempDir())
		t.Setenv("XDG_STATE_HOME", "/xdg/state")
		t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
		runtime := "/run/user/1000"
		if uid == 0 {
			runtime = "/run"
		}
		if got, want := DefaultSocket(defaultStateDir()), filepath.Join(runtime, "chatsafe", "chatsafe.sock"); got != want {
			t.Errorf("uid %d: default installation's socket %q, want %q", uid, got, want)
		}
		if got, want := DefaultSocket("/srv/b/state"), "/srv/b/state/chatsafe.sock"; got != want {
			t.Errorf("uid %d: socket of /srv/b/state is %q, want %q", uid, got, want)
		}
		long1, long2 := "/"+strings.Repeat("x", 100)+"/a", "/"+strings.Repeat("x", 100)+"/b"
		s1, s2 := DefaultSocket(long1), DefaultSocket(long2)
		if s1 == s2 || len(s1) > maxPortableSocketPath || !strings.HasPrefix(s1, filepath.Join(runtime, "chatsafe")+"/chatsafe-") {
			t.Errorf("uid %d: long state dirs give sockets %q and %q", uid, s1, s2)
		}
		if DefaultSocket(long1) != s1 {
			t.Errorf("uid %d: the hashed socket is not stable", uid)
		}
	}
}

// A config that leaves status_socket out gets its state directory's socket.
func TestLoadDerivesSocketFromStateDir(t *testing.T) {
	asUser(t, 0)
	p := writeConfig(t, "source: /src\nstate_dir: state\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(p), "state", "chatsafe.sock"); c.StatusSocket != want {
		t.Errorf("status_socket %q, want %q", c.StatusSocket, want)
	}
}

func TestDefaultAtKeepsEverythingBesideTheConfig(t *testing.T) {
	asUser(t, 0)
	dir := t.TempDir()
	c := DefaultAt(filepath.Join(dir, "cfg.yaml"))
	for name, got := range map[string]string{"state_dir": c.StateDir, "remote": c.Remotes[0].URL, "status_socket": c.StatusSocket} {
		if !strings.HasPrefix(got, dir+"/") {
			t.Errorf("%s = %q, not under %s", name, got, dir)
		}
	}
}

func TestRetryFor(t *testing.T) {
	c, err := Load(writeConfig(t, "source: /src\nstate_dir: /s\nretry_for: 90s\n"))
	if err != nil || time.Duration(c.RetryFor) != 90*time.Second {
		t.Fatalf("retry_for: %v %v", c, err)
	}
	if c, err := Load(writeConfig(t, "source: /src\nstate_dir: /s\n")); err != nil || c.RetryFor != 0 {
		t.Fatalf("retry_for default: %v %v", c.RetryFor, err)
	}
	_, err = Load(writeConfig(t, "source: /src\nstate_dir: /s\nretry_for: -1s\n"))
	if err == nil || !strings.Contains(err.Error(), ":3") {
		t.Fatalf("negative retry_for: %v", err)
	}
	_, err = Load(writeConfig(t, "source: /src\nstate_dir: /s\nretry_four: 1s\n"))
	if err == nil {
		t.Fatal("a misspelt retry_for was accepted")
	}
}

// Every config built in code gets its socket from DefaultSocket of its
// state directory, through SetStateDir: the defaults, DefaultAt, and a
// state directory moved elsewhere.
func TestSocketFollowsStateDir(t *testing.T) {
	asUser(t, 1000)
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", t.TempDir())
	dir := t.TempDir()
	moved := Default()
	moved.SetStateDir(filepath.Join(dir, "elsewhere"))
	for name, c := range map[string]*Config{"Default": Default(), "DefaultAt": DefaultAt(filepath.Join(dir, "c.yaml")), "SetStateDir": moved} {
		if want := DefaultSocket(c.StateDir); c.StatusSocket != want || !strings.HasPrefix(c.StatusSocket, c.StateDir+string(filepath.Separator)) {
			t.Errorf("%s: status socket %q, want %q, in the state directory %s", name, c.StatusSocket, want, c.StateDir)
		}
	}
}
