package service

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
)

const noManagerMsg = "no service manager found (is this a container?); run `chatsafe daemon --config /etc/chatsafe/config.yaml` under your own supervisor, or see the unit with `chatsafe service install --print`"

// This machine (a container) runs no systemd: New must say so plainly
// whatever kardianos/service fell back to.
func TestNoServiceManagerOnThisHost(t *testing.T) {
	_, err := New(false, "/etc/chatsafe/config.yaml")
	_, statErr := os.Stat("/run/systemd/system")
	if statErr == nil {
		// A host booted with systemd: the manager must be usable.
		if err != nil {
			t.Fatalf("systemd is running but New failed: %v", err)
		}
		return
	}
	if !errors.Is(err, ErrNoServiceManager) {
		t.Fatalf("New without systemd: got %v, want ErrNoServiceManager", err)
	}
	if err.Error() != noManagerMsg {
		t.Errorf("message:\n got %s\nwant %s", err, noManagerMsg)
	}
}

func TestNoServiceManagerCases(t *testing.T) {
	cases := map[string]host{
		"System V fallback":               {goos: "linux", system: systemByName(t, "unix-systemv"), systemdBooted: true},
		"systemctl but systemd not pid 1": {goos: "linux", system: systemByName(t, "linux-systemd"), systemdBooted: false},
		"nothing detected":                {goos: "linux"},
		"unsupported OS":                  {goos: "plan9", system: systemByName(t, "linux-systemd")},
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := newManager(false, "/etc/chatsafe/config.yaml", h)
			if !errors.Is(err, ErrNoServiceManager) || err.Error() != noManagerMsg {
				t.Fatalf("got %v, want %q", err, noManagerMsg)
			}
		})
	}
	// Without a config path the hint still reads as a command.
	_, err := newManager(true, "", host{goos: "linux"})
	if err == nil || !strings.Contains(err.Error(), "`chatsafe daemon --config FILE`") {
		t.Errorf("got %v", err)
	}
}

// fakeHome points $HOME at a new directory and empties $PATH, so the
// library can write the user unit but cannot reach a real systemctl.
func fakeHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("PATH", t.TempDir())
	return home
}

// Install goes through kardianos/service for real: the library writes the
// unit file, which must be byte for byte what RenderSystemd (and the golden
// file) says; it then fails to run systemctl, and the error must say what
// was done and what to do next.
func TestInstallUserUnitThroughLibrary(t *testing.T) {
	home := fakeHome(t)
	u := userUnit()
	m, err := newManager(true, u.ConfigPath, host{goos: "linux", system: systemByName(t, "linux-systemd"), systemdBooted: true, euid: 1000, home: home})
	if err != nil {
		t.Fatal(err)
	}
	wantPath := filepath.Join(home, ".config", "systemd", "user", "chatsafe.service")
	if m.Path() != wantPath {
		t.Fatalf("Path() = %s, want %s", m.Path(), wantPath)
	}
	ctx := context.Background()
	if st, err := m.Status(ctx); err != nil || st != StatusNotInstalled {
		t.Fatalf("Status before install = %v, %v; want not installed", st, err)
	}
	if err := m.Start(ctx); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Start before install: got %v, want ErrNotInstalled", err)
	}

	res, err := m.Install(ctx, u)
	if err == nil {
		t.Fatal("Install succeeded without systemctl")
	}
	if !strings.Contains(err.Error(), "could not enable it") || !strings.Contains(err.Error(), "chatsafe service install --user") {
		t.Errorf("Install error does not say what happened and what to do: %v", err)
	}
	if res.Path != wantPath {
		t.Errorf("Installed.Path = %q, want %q", res.Path, wantPath)
	}
	got, err := os.ReadFile(wantPath)
	if err != nil {
		t.Fatalf("the library did not write the unit: %v", err)
	}
	want, err := RenderSystemd(u)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("installed unit differs from the rendered one:\n%s", got)
	}
	golden(t, "systemd-user", string(got))

	_, err = m.Install(ctx, u)
	if !errors.Is(err, ErrAlreadyInstalled) || !strings.Contains(err.Error(), wantPath) {
		t.Errorf("second Install: got %v, want ErrAlreadyInstalled naming the file", err)
	}
}

func TestSystemServiceNeedsRoot(t *testing.T) {
	home := fakeHome(t)
	m, err := newManager(false, "/etc/chatsafe/config.yaml", host{goos: "linux", system: systemByName(t, "linux-systemd"), systemdBooted: true, euid: 1000, home: home})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := m.Install(ctx, systemUnit()); !errors.Is(err, ErrNeedsRoot) || !strings.Contains(err.Error(), "--user") {
		t.Errorf("Install as non-root: got %v, want ErrNeedsRoot suggesting --user", err)
	}
	for name, f := range map[string]func(context.Context) error{"Start": m.Start, "Stop": m.Stop, "Uninstall": m.Uninstall} {
		if err := f(ctx); !errors.Is(err, ErrNeedsRoot) {
			t.Errorf("%s as non-root: got %v, want ErrNeedsRoot", name, err)
		}
	}
}

func TestInstallRefusesTemporaryBinary(t *testing.T) {
	home := fakeHome(t)
	u := userUnit()
	u.Executable = filepath.Join(os.TempDir(), "go-build1234", "exe", "chatsafe")
	m, err := newManager(true, u.ConfigPath, host{goos: "linux", system: systemByName(t, "linux-systemd"), systemdBooted: true, euid: 1000, home: home})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Install(context.Background(), u); err == nil || !strings.Contains(err.Error(), "temporary directory") {
		t.Errorf("got %v, want a refusal naming the temporary directory", err)
	}
	if _, err := os.Stat(m.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a unit was written anyway: %v", err)
	}
}

func TestInstallChecksUnit(t *testing.T) {
	home := fakeHome(t)
	m, err := newManager(true, "", host{goos: "linux", system: systemByName(t, "linux-systemd"), systemdBooted: true, home: home})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := m.Install(ctx, Unit{User: true}); err == nil {
		t.Error("Install without binary and config paths succeeded")
	}
	if _, err := m.Install(ctx, systemUnit()); err == nil {
		t.Error("a user Manager installed a system unit")
	}
	if _, err := os.Stat(m.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused Install wrote the unit")
	}
}

func TestCancelledContext(t *testing.T) {
	home := fakeHome(t)
	m, err := newManager(true, "", host{goos: "linux", system: systemByName(t, "linux-systemd"), systemdBooted: true, home: home})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Install(ctx, userUnit()); !errors.Is(err, context.Canceled) {
		t.Errorf("Install: got %v, want context.Canceled", err)
	}
	if _, err := os.Stat(m.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Error("a cancelled Install wrote the unit")
	}
	if _, err := m.Status(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Status: got %v, want context.Canceled", err)
	}
}

func writeConfig(t *testing.T, text string) *configs.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestFromConfig(t *testing.T) {
	cfg := writeConfig(t, `source: /home/alice/chats
state_dir: /var/lib/chatsafe
remotes:
  - name: nas
    url: /srv/nas/chatsafe
  - name: data
    url: /var/lib/chatsafe/data/remote
  - name: gdrive
    url: gdrive:chatsafe
rclone_config: /etc/chatsafe/rclone/rclone.conf
key:
  vault:
    url: https://vault.example.org
    account: alice
  password_file: /etc/chatsafe/vault-password
status_socket: /run/chatsafe/chatsafe.sock
`)
	u, err := FromConfig("/usr/local/bin/chatsafe", cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	if u.ConfigPath != cfg.Path || u.Executable != "/usr/local/bin/chatsafe" || u.User {
		t.Errorf("unit = %+v", u)
	}
	if u.PasswordFile != "/etc/chatsafe/vault-password" {
		t.Errorf("PasswordFile = %q", u.PasswordFile)
	}
	// Paths under the state and runtime directories are writable already;
	// network remotes need nothing.
	want := []string{"/etc/chatsafe/rclone", "/srv/nas/chatsafe"}
	if !slices.Equal(u.WritablePaths, want) {
		t.Errorf("WritablePaths = %q, want %q", u.WritablePaths, want)
	}

	// A user unit is not mounted read-only, so it needs no extra paths.
	uu, err := FromConfig("/usr/local/bin/chatsafe", cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	if uu.WritablePaths != nil || !uu.User {
		t.Errorf("user unit = %+v", uu)
	}

	// No password file: no credential.
	cfg2 := writeConfig(t, "source: /home/alice/chats\nstate_dir: /data/chatsafe/state\nstatus_socket: /data/chatsafe/state/sock\nremotes:\n  - name: s3\n    url: s3:bucket/x\n")
	u2, err := FromConfig("/usr/local/bin/chatsafe", cfg2, false)
	if err != nil {
		t.Fatal(err)
	}
	if u2.PasswordFile != "" || !slices.Equal(u2.WritablePaths, []string{"/data/chatsafe/state"}) {
		t.Errorf("unit = %+v", u2)
	}
	out, err := RenderSystemd(u2)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "LoadCredential") || !strings.Contains(out, "\nReadWritePaths=-/data/chatsafe/state\n") {
		t.Errorf("rendered unit:\n%s", out)
	}

	if _, err := FromConfig("/usr/local/bin/chatsafe", configs.Default(), false); err == nil {
		t.Error("FromConfig accepted a config that was not loaded from a file")
	}
}

func TestStatusString(t *testing.T) {
	for st, want := range map[Status]string{StatusNotInstalled: "not installed", StatusStopped: "stopped", StatusRunning: "running", StatusFailed: "failed"} {
		if st.String() != want {
			t.Errorf("%d.String() = %q, want %q", st, st, want)
		}
	}
}

func TestLingerNote(t *testing.T) {
	note := lingerNote()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("/var/lib/systemd/linger", u.Username)); err == nil {
		if !strings.Contains(note, "lingering is enabled") {
			t.Errorf("linger is on but the note says %q", note)
		}
		return
	}
	if !strings.HasSuffix(note, "loginctl enable-linger "+u.Username) {
		t.Errorf("note %q does not end with the command to run", note)
	}
}
