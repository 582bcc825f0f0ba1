//go:build unix

package statusapi_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/statusapi/client"
	"github.com/chatsafe/chatsafe/statusapi/peercred"
)

// Socket files, their modes and uids are Unix's; Windows' named pipe is
// covered by peercred's own tests and compiled by scripts/crossbuild.

func TestSocketModesAndStaleSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	sock := filepath.Join(dir, "chatsafe.sock")
	// A stale socket file of a dead daemon is replaced.
	ln, err := peercred.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("stale socket not left behind for the test: %v", err)
	}
	b := newBackend()
	serve(t, b, sock, 0o700, 0o600)
	for p, want := range map[string]os.FileMode{dir: 0o700, sock: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %o, want %o", p, fi.Mode().Perm(), want)
		}
	}
	// A live one is not taken over.
	if _, err := peercred.Listen(sock); !errors.Is(err, peercred.ErrInUse) {
		t.Fatalf("second listener: %v, want ErrInUse", err)
	}
}

func TestNoDaemon(t *testing.T) {
	dir := t.TempDir()
	c := client.New(filepath.Join(dir, "none.sock"))
	_, err := c.Status(t.Context())
	if !errors.Is(err, client.ErrNoDaemon) || !strings.Contains(err.Error(), "chatsafe daemon") {
		t.Fatalf("missing socket: %v", err)
	}
	// A socket file nobody listens on (a daemon that was killed).
	sock := filepath.Join(dir, "run", "dead.sock")
	ln, err := peercred.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := client.New(sock).Status(t.Context()); !errors.Is(err, client.ErrNoDaemon) {
		t.Fatalf("dead socket: %v", err)
	}
}

// TestOtherUIDRefused runs a client as uid 65534 against a socket that
// file permissions would let it reach, so that the SO_PEERCRED check
// itself must refuse it.
func TestOtherUIDRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test must run as root (it starts a client as uid 65534)")
	}
	dir, err := os.MkdirTemp("", "chatsafe-peercred-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The test binary lives in a private build directory: copy it where
	// uid 65534 can run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "client.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "run", "chatsafe.sock")
	serve(t, newBackend(), sock, 0o755, 0o666)

	run := func(cred *syscall.Credential) string {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, exe)
		cmd.Env = append(os.Environ(), childEnv+"="+sock)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client: %v: %s", err, out)
		}
		return string(out)
	}
	if out := run(&syscall.Credential{Uid: 65534, Gid: 65534}); !strings.HasPrefix(out, "REFUSED:") || !strings.Contains(out, "uid 65534") {
		t.Fatalf("uid 65534: %q", out)
	}
	if out := run(nil); !strings.HasPrefix(out, "ALLOWED") {
		t.Fatalf("root: %q", out)
	}
}

// TestSharedSocketDirRefused: a status_socket in a directory others can
// write or read (/tmp, mode 1777) is refused, and the directory is left as
// it was; only a directory chatsafe creates gets its mode set.
func TestSharedSocketDirRefused(t *testing.T) {
	for _, mode := range []os.FileMode{os.ModeSticky | 0o777, 0o750, 0o705} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "shared")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			// Chmod, not Mkdir's mode: the umask would clear the bits.
			if err := os.Chmod(dir, mode); err != nil {
				t.Fatal(err)
			}
			ln, err := peercred.Listen(filepath.Join(dir, "chatsafe.sock"))
			if err == nil {
				ln.Close()
				t.Fatalf("a socket in a directory of mode %s was accepted", mode)
			}
			if !strings.Contains(err.Error(), "put the socket in a directory only you can write") {
				t.Errorf("error does not say what to do: %v", err)
			}
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode() & (os.ModePerm | os.ModeSticky); got != mode&(os.ModePerm|os.ModeSticky) {
				t.Errorf("the directory's mode was changed from %s to %s", mode, got)
			}
		})
	}
	// A private existing directory is used as it is.
	dir := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := peercred.Listen(filepath.Join(dir, "chatsafe.sock"))
	if err != nil {
		t.Fatalf("private directory refused: %v", err)
	}
	ln.Close()
}
