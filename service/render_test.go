package service

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	kservice "github.com/kardianos/service"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/name.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run `go test ./service -update` to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (run with -update if the change is intended)\n--- got ---\n%s\n--- want ---\n%s", name, path, got, want)
	}
}

// noRestart mirrors the CLI's exit codes for bad config, wrong key, erased key.
var noRestart = []int{2, 3, 4}

func systemUnit() Unit {
	return Unit{
		Executable:         "/usr/local/bin/chatsafe",
		ConfigPath:         "/etc/chatsafe/config.yaml",
		PasswordFile:       "/etc/chatsafe/vault-password",
		WritablePaths:      []string{"/srv/backup/chatsafe"},
		NoRestartExitCodes: noRestart,
	}
}

func userUnit() Unit {
	return Unit{
		Executable:         "/home/alice/.local/bin/chatsafe",
		ConfigPath:         "/home/alice/.config/chatsafe/config.yaml",
		User:               true,
		NoRestartExitCodes: noRestart,
	}
}

func TestGoldenSystemdSystem(t *testing.T) {
	got, err := RenderSystemd(systemUnit())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "systemd-system", got)
	for _, line := range []string{
		"ExecStart=/usr/local/bin/chatsafe daemon --config /etc/chatsafe/config.yaml",
		"LoadCredential=vault-password:/etc/chatsafe/vault-password",
		"ProtectHome=read-only", "ProtectSystem=strict", "ReadWritePaths=-/srv/backup/chatsafe",
		"WantedBy=multi-user.target",
		"RestartPreventExitStatus=2 3 4",
	} {
		if !strings.Contains(got, "\n"+line+"\n") {
			t.Errorf("system unit lacks %q", line)
		}
	}
}

func TestGoldenSystemdSystemNoPassword(t *testing.T) {
	u := systemUnit()
	u.PasswordFile, u.WritablePaths = "", nil
	got, err := RenderSystemd(u)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "systemd-system-nopassword", got)
	if strings.Contains(got, "LoadCredential") || strings.Contains(got, "ReadWritePaths") {
		t.Error("a config without a password file or extra paths must not get LoadCredential= or ReadWritePaths=")
	}
}

func TestGoldenSystemdUser(t *testing.T) {
	got, err := RenderSystemd(userUnit())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "systemd-user", got)
	if !strings.Contains(got, "\nWantedBy=default.target\n") || strings.Contains(got, "multi-user") {
		t.Error("a user unit must be wanted by default.target: the user manager has no multi-user.target")
	}
	for _, bad := range []string{"User=", "ProtectHome", "ProtectSystem", "network-online"} {
		if strings.Contains(got, bad) {
			t.Errorf("user unit contains %q", bad)
		}
	}
}

// Paths with blanks, quotes, '%' and '$' must reach the daemon unchanged:
// systemd expands specifiers and variables and splits on blanks.
func TestGoldenSystemdOddPaths(t *testing.T) {
	u := Unit{
		Executable:    "/opt/chat safe/bin/chatsafe",
		ConfigPath:    `/etc/chatsafe/100% "mine" $HOME\x.yaml`,
		PasswordFile:  "/etc/chatsafe/pass%word",
		WritablePaths: []string{"/mnt/my nas"},
	}
	got, err := RenderSystemd(u)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "systemd-oddpaths", got)
	want := `ExecStart="/opt/chat safe/bin/chatsafe" daemon --config "/etc/chatsafe/100%% \"mine\" $$HOME\\x.yaml"`
	if !strings.Contains(got, want+"\n") {
		t.Errorf("ExecStart not quoted for systemd; want line %s", want)
	}
}

func TestRenderRefusesUnsafeText(t *testing.T) {
	for _, u := range []Unit{
		{Executable: "/bin/chatsafe", ConfigPath: "/etc/a\nExecStartPre=/bin/evil"},
		{Executable: "/bin/chatsafe", ConfigPath: "/etc/{{Path}}.yaml"},
		{Executable: "chatsafe", ConfigPath: "/etc/c.yaml"},
		{Executable: "/bin/chatsafe", ConfigPath: "c.yaml"},
		{Executable: "/bin/chatsafe", ConfigPath: "/etc/c.yaml", PasswordFile: "pw"},
	} {
		if out, err := RenderSystemd(u); err == nil {
			t.Errorf("RenderSystemd(%+v) accepted it:\n%s", u, out)
		}
		if out, err := RenderLaunchd(u); err == nil {
			t.Errorf("RenderLaunchd(%+v) accepted it:\n%s", u, out)
		}
	}
	_, err := RenderSystemd(Unit{Executable: "/bin/chatsafe", ConfigPath: "/etc/x\n"})
	if !errors.Is(err, ErrBadUnit) {
		t.Errorf("newline in a path: got %v, want ErrBadUnit", err)
	}
}

func TestGoldenLaunchdDaemon(t *testing.T) {
	u := systemUnit()
	u.ConfigPath = "/Library/Application Support/chatsafe/config & more.yaml"
	got, err := RenderLaunchd(u)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "launchd-daemon", got)
	if !strings.Contains(got, "<string>/Library/Application Support/chatsafe/config &amp; more.yaml</string>") {
		t.Error("plist strings must be XML-escaped")
	}
	// launchd restarts on any non-zero exit: the daemon learns which codes
	// are final from the plist and exits 0 on them (see TestRunFinalExit).
	for _, want := range []string{
		"<key>EnvironmentVariables</key>\n\t<dict>\n\t\t<key>" + NoRestartEnv + "</key>\n\t\t<string>2 3 4</string>",
		"<key>KeepAlive</key>\n\t<dict>\n\t\t<key>SuccessfulExit</key>\n\t\t<false/>",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("plist lacks\n%s", want)
		}
	}
}

func TestGoldenLaunchdAgent(t *testing.T) {
	u := Unit{
		Executable: "/Users/alice/bin/chatsafe",
		ConfigPath: "/Users/alice/.config/chatsafe/config.yaml",
		User:       true,
		LogDir:     "/Users/alice/Library/Logs",
	}
	got, err := RenderLaunchd(u)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "launchd-agent", got)
	if strings.Contains(got, "EnvironmentVariables") {
		t.Error("a unit without final exit codes got an environment")
	}
	u.LogDir = ""
	if _, err := RenderLaunchd(u); err == nil {
		t.Error("an agent without a log directory was accepted")
	}
}

// The library is given the finished unit as its template; the config the
// Manager hands it for each platform is pinned here, Windows' options
// included (Windows keeps them in the service control manager, not a file).
func TestGoldenLibraryConfig(t *testing.T) {
	linuxSystemd := systemByName(t, "linux-systemd")
	for _, goos := range []string{"linux", "darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			u := systemUnit()
			m, err := newManager(false, u.ConfigPath, host{goos: goos, system: linuxSystemd, systemdBooted: true, home: "/home/alice"})
			if err != nil {
				t.Fatal(err)
			}
			c, err := m.libraryConfig(&u)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "kardianos-"+goos, describe(c))
		})
	}
}

func describe(c *kservice.Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Name=%s\nDisplayName=%s\nDescription=%s\nExecutable=%s\nArguments=%q\n", c.Name, c.DisplayName, c.Description, c.Executable, c.Arguments)
	if len(c.EnvVars) > 0 {
		fmt.Fprintf(&b, "EnvVars=%v\n", c.EnvVars)
	}
	keys := make([]string, 0, len(c.Option))
	for k := range c.Option {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := fmt.Sprint(c.Option[k])
		if strings.Contains(v, "\n") {
			v = fmt.Sprintf("<%d bytes, the rendered service file>", len(v))
		}
		fmt.Fprintf(&b, "Option[%s]=%s\n", k, v)
	}
	return b.String()
}

func systemByName(t *testing.T, name string) kservice.System {
	t.Helper()
	for _, s := range kservice.AvailableSystems() {
		if s.String() == name {
			return s
		}
	}
	t.Fatalf("kardianos/service has no %q system on this platform", name)
	return nil
}

func TestSystemdQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/chatsafe": "/usr/bin/chatsafe",
		"":                  `""`,
		"a b":               `"a b"`,
		"50%":               "50%%",
		"$HOME":             "$$HOME",
		`back\slash`:        `"back\\slash"`,
		`say "hi"`:          `"say \"hi\""`,
		"it's":              `"it's"`,
		"a;b":               `"a;b"`,
		"tab\there":         `"tab\there"`,
	} {
		if got := systemdQuote(in); got != want {
			t.Errorf("systemdQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
