//go:build linux

// Package keyringtest runs a real Secret Service for tests: a private
// session bus (dbus-daemon) with gnome-keyring-daemon on it, as a desktop
// session has. It is imported by tests only.
package keyringtest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// Password unlocks the test's login keyring.
const Password = "chatsafe-test"

// Service is a running session bus with gnome-keyring on it.
type Service struct {
	env  []string
	addr string
}

// Start starts a session bus and gnome-keyring-daemon with its login
// keyring unlocked, and points this process at the bus (for the test).
func Start(t *testing.T) *Service {
	t.Helper()
	for _, bin := range []string{"dbus-daemon", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is needed to test the keyring (apt-get install dbus gnome-keyring; scripts/test does): %v", bin, err)
		}
	}
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_RUNTIME_DIR="+filepath.Join(home, "run"))
	if err := os.MkdirAll(filepath.Join(home, "run"), 0o700); err != nil {
		t.Fatal(err)
	}
	bus := exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1")
	bus.Env = env
	out, err := bus.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Process.Kill(); bus.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the session bus address: %v", err)
	}
	addr = strings.TrimSpace(addr)
	s := &Service{env: append(env, "DBUS_SESSION_BUS_ADDRESS="+addr), addr: addr}
	s.keyringDaemon(t, true)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
	return s
}

// keyringDaemon starts gnome-keyring-daemon, replacing the one on the bus
// if any; unlock unlocks (or creates) the login keyring with Password.
// --daemonize returns before the forked daemon has taken the Secret
// Service's name on the bus, so this waits for the name to change hands.
// The daemon would exit with the bus, but on its own time: it is killed
// and waited for at cleanup, so that it no longer writes in the test's
// runtime directory when that is removed.
func (s *Service) keyringDaemon(t *testing.T, unlock bool) {
	t.Helper()
	conn, err := dbus.Connect(s.addr)
	if err != nil {
		t.Fatalf("connecting to the test's session bus: %v", err)
	}
	defer conn.Close()
	// Watch the Secret Service name before starting the daemon: --daemonize
	// returns before the forked daemon has taken the name.
	if err := conn.AddMatchSignal(dbus.WithMatchInterface("org.freedesktop.DBus"), dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, secretsName)); err != nil {
		t.Fatalf("watching the Secret Service name: %v", err)
	}
	changed := make(chan *dbus.Signal, 16)
	conn.Signal(changed)
	before := nameOwner(conn)

	args := []string{"--replace", "--components=secrets", "--daemonize"}
	if unlock {
		args = append(args, "--unlock")
	}
	gk := exec.Command("gnome-keyring-daemon", args...)
	gk.Env = s.env
	if unlock {
		gk.Stdin = strings.NewReader(Password)
	}
	if b, err := gk.CombinedOutput(); err != nil {
		t.Fatalf("gnome-keyring-daemon: %v: %s", err, b)
	}
	timeout := time.After(time.Minute)
	owner := nameOwner(conn)
	for owner == "" || owner == before {
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("gnome-keyring-daemon did not take %s on the bus within a minute", secretsName)
		}
		owner = nameOwner(conn)
	}
	reapAtCleanup(t, conn, owner)
}

const secretsName = "org.freedesktop.secrets"

// nameOwner is the unique bus name owning the Secret Service, "" if none.
func nameOwner(conn *dbus.Conn) string {
	var owner string
	if err := conn.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, secretsName).Store(&owner); err != nil {
		return ""
	}
	return owner
}

// reapAtCleanup makes sure the daemon behind the bus name owner is gone
// before the test's directories are removed: at cleanup it kills it and
// waits for it to exit. The daemon is not our child (it forked away), so it
// is waited for through a pidfd, opened now while it surely runs.
func reapAtCleanup(t *testing.T, conn *dbus.Conn, owner string) {
	t.Helper()
	var pid uint32
	if err := conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixProcessID", 0, owner).Store(&pid); err != nil {
		t.Fatalf("finding gnome-keyring-daemon's process: %v", err)
	}
	fd, err := unix.PidfdOpen(int(pid), 0)
	if err != nil {
		t.Fatalf("pidfd_open of gnome-keyring-daemon (pid %d): %v", pid, err)
	}
	t.Cleanup(func() {
		defer unix.Close(fd)
		if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil && err != unix.ESRCH {
			t.Errorf("killing gnome-keyring-daemon (pid %d): %v", pid, err)
			return
		}
		// The pidfd turns readable when the process has exited.
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, int(time.Minute/time.Millisecond))
			if err == unix.EINTR {
				continue
			}
			if err != nil || n == 0 {
				t.Errorf("waiting for gnome-keyring-daemon (pid %d) to exit: %d, %v", pid, n, err)
			}
			return
		}
	})
}

// Lock restarts gnome-keyring without unlocking: its login keyring is
// locked, as after a login that did not unlock it.
func (s *Service) Lock(t *testing.T) { s.keyringDaemon(t, false) }

// StallPrompts stands in for the desktop's prompter (gcr-prompter) on the
// bus: it takes every prompt gnome-keyring opens and never answers, as a
// dialog nobody looks at. It returns how many prompts were opened.
func (s *Service) StallPrompts(t *testing.T) func() int {
	t.Helper()
	conn, err := dbus.Connect(s.addr)
	if err != nil {
		t.Fatalf("connecting to the test's session bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	p := &stallingPrompter{}
	if err := conn.Export(p, "/org/gnome/keyring/Prompter", "org.gnome.keyring.internal.Prompter"); err != nil {
		t.Fatal(err)
	}
	r, err := conn.RequestName("org.gnome.keyring.SystemPrompter", dbus.NameFlagDoNotQueue)
	if err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("owning the prompter's bus name: %v, %v", r, err)
	}
	return p.count
}

type stallingPrompter struct {
	mu     sync.Mutex
	opened int
}

func (p *stallingPrompter) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.opened
}

// BeginPrompting accepts a prompt and never calls back.
func (p *stallingPrompter) BeginPrompting(callback dbus.ObjectPath) *dbus.Error {
	p.mu.Lock()
	p.opened++
	p.mu.Unlock()
	return nil
}

// PerformPrompt is never reached (BeginPrompting never calls back).
func (p *stallingPrompter) PerformPrompt(callback dbus.ObjectPath, kind string, props map[string]dbus.Variant, exchange string) *dbus.Error {
	return nil
}

// StopPrompting ends a prompt (the client dismissed it).
func (p *stallingPrompter) StopPrompting(callback dbus.ObjectPath) *dbus.Error { return nil }
