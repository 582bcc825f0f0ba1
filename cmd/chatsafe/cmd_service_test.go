package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/service"
)

// runService runs `chatsafe args...` in process on a fresh command tree,
// with the default config in home (where there is none).
func runService(t *testing.T, home string, args ...string) (string, error) {
	t.Helper()
	root := buildRootCommand(&globalOptions{defaultConfig: filepath.Join(home, "default-config", "config.yaml")})
	var out bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// isolate keeps the test away from a real service manager: a fresh $HOME,
// and no systemctl on $PATH.
func isolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("PATH", t.TempDir())
	return home
}

func TestServiceUsageErrors(t *testing.T) {
	home := isolate(t)
	for _, args := range [][]string{
		{"service"},
		{"service", "bogus"},
		{"service", "install", "extra"},
		{"service", "status", "--config"},
		{"service", "stop", "--no-such-flag"},
	} {
		_, err := runService(t, home, args...)
		if err == nil || exitCode(err) != exitUsage {
			t.Errorf("chatsafe %s: got %v (exit %d), want a usage error (exit %d)", strings.Join(args, " "), err, exitCode(err), exitUsage)
		}
	}
}

// In this container there is no systemd: every action says so, names the
// config the daemon should be run with, and wraps ErrNoServiceManager.
func TestServiceWithoutServiceManager(t *testing.T) {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Log("systemd is running here; checking only that nothing is installed outside the temporary home")
	}
	home := isolate(t)
	cfg := filepath.Join(home, "chatsafe.yaml")
	src := filepath.Join(home, "chats")
	if err := os.WriteFile(cfg, []byte("source: "+src+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"install", "uninstall", "start", "stop", "status"} {
		t.Run(action, func(t *testing.T) {
			out, err := runService(t, home, "service", action, "--user", "--config", cfg)
			if _, serr := os.Stat("/run/systemd/system"); serr == nil {
				// A systemd host: the test binary lives in a temporary
				// directory, so install refuses; the rest find nothing installed.
				if err == nil && action != "status" {
					t.Fatalf("%s succeeded: %s", action, out)
				}
				return
			}
			if !errors.Is(err, service.ErrNoServiceManager) {
				t.Fatalf("got %v, want ErrNoServiceManager", err)
			}
			want := "no service manager found (is this a container?); run `chatsafe daemon --config " + cfg + "` under your own supervisor, or see the unit with `chatsafe service install --print`"
			if err.Error() != want {
				t.Errorf("message:\n got %s\nwant %s", err, want)
			}
			if code := exitCode(err); code == exitOK {
				t.Errorf("exit code %d", code)
			}
		})
	}
}

// --config is made absolute, so the unit never depends on a working directory.
func TestServiceConfigFlagIsAbsolute(t *testing.T) {
	home := isolate(t)
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Log("systemd is running here: the message is not printed")
		return
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	_, err = runService(t, home, "service", "status", "--config", "rel/config.yaml")
	if err == nil || !strings.Contains(err.Error(), "--config "+filepath.Join(wd, "rel", "config.yaml")+"`") {
		t.Errorf("got %v, want the absolute config path in the hint", err)
	}
}

// --print needs no service manager: it prints the unit install would
// write (here, Linux: the systemd unit) and installs nothing.
func TestServiceInstallPrint(t *testing.T) {
	home := isolate(t)
	cfg := filepath.Join(home, "chatsafe.yaml")
	src := filepath.Join(home, "chats")
	if err := os.WriteFile(cfg, []byte("source: "+src+"\nstate_dir: "+filepath.Join(home, "state")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, user := range []bool{false, true} {
		args := []string{"service", "install", "--print", "--config", cfg}
		where := "# /etc/systemd/system/chatsafe.service"
		if user {
			args = append(args, "--user")
			where = "# " + filepath.Join(home, ".config", "systemd", "user", "chatsafe.service")
		}
		out, err := runService(t, home, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, want := range []string{where + "\n", "[Service]", "daemon --config " + cfg, "RestartPreventExitStatus="} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: output lacks %q:\n%s", args, want, out)
			}
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(home, ".config")); len(entries) > 0 {
		t.Errorf("--print wrote into ~/.config: %v", entries)
	}
	for _, goos := range []string{"darwin", "windows"} {
		s, err := service.Render(goos, service.Unit{Executable: "/usr/local/bin/chatsafe", ConfigPath: cfg, NoRestartExitCodes: []int{2, 3, 4}})
		if err != nil || !strings.Contains(s, cfg) {
			t.Errorf("Render(%s): %v\n%s", goos, err, s)
		}
	}
}
