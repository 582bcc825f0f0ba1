package configs

import (
	"path/filepath"
	"slices"
	"testing"
)

// The default paths per system, for a user and for the system, chosen from
// the OS, the environment and (on Windows, for a user) whether an
// installation from before keeps its state in %AppData%.
func TestDefaultPathsPerOS(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	none := env(nil)
	dirs := func(ds ...string) func(string) bool {
		return func(d string) bool { return slices.Contains(ds, d) }
	}
	for _, c := range []struct {
		name string
		p    platform
		want paths
	}{
		{"linux user", platform{goos: "linux", home: "/home/a", getenv: none},
			paths{"/home/a/.config/chatsafe/config.yaml", "/home/a/.local/state/chatsafe", "/home/a/.local/share/chatsafe", ""}},
		{"linux user, XDG", platform{goos: "linux", home: "/home/a", getenv: env(map[string]string{
			"XDG_CONFIG_HOME": "/x/c", "XDG_STATE_HOME": "/x/s", "XDG_DATA_HOME": "relative/is/ignored", "XDG_RUNTIME_DIR": "/run/user/1000/"})},
			paths{"/x/c/chatsafe/config.yaml", "/x/s/chatsafe", "/home/a/.local/share/chatsafe", "/run/user/1000"}},
		{"linux root", platform{goos: "linux", system: true, home: "/root", getenv: env(map[string]string{"XDG_CONFIG_HOME": "/x/c"})},
			paths{"/etc/chatsafe/config.yaml", "/var/lib/chatsafe", "/var/lib/chatsafe/data", "/run"}},
		{"freebsd user", platform{goos: "freebsd", home: "/home/a", getenv: none},
			paths{"/home/a/.config/chatsafe/config.yaml", "/home/a/.local/state/chatsafe", "/home/a/.local/share/chatsafe", ""}},
		{"macOS user", platform{goos: "darwin", home: "/Users/a", getenv: env(map[string]string{"XDG_CONFIG_HOME": "/x/c", "XDG_RUNTIME_DIR": "/x/r"})},
			paths{"/Users/a/Library/Application Support/chatsafe/config.yaml", "/Users/a/Library/Application Support/chatsafe/state", "/Users/a/Library/Application Support/chatsafe", ""}},
		{"macOS root", platform{goos: "darwin", system: true, home: "/var/root", getenv: none},
			paths{"/Library/Application Support/chatsafe/config.yaml", "/Library/Application Support/chatsafe/state", "/Library/Application Support/chatsafe", ""}},
		{"Windows user", platform{goos: "windows", home: `C:\Users\a`, getenv: env(map[string]string{
			"AppData": `C:\Users\a\AppData\Roaming`, "LocalAppData": `C:\Users\a\AppData\Local`, "ProgramData": `C:\ProgramData`})},
			paths{`C:\Users\a\AppData\Roaming\chatsafe\config.yaml`, `C:\Users\a\AppData\Local\chatsafe\state`, `C:\Users\a\AppData\Local\chatsafe`, ""}},
		{"Windows user, no %AppData% nor %LocalAppData%", platform{goos: "windows", home: `D:\home\a\`, getenv: env(map[string]string{"AppData": `relative`})},
			paths{`D:\home\a\AppData\Roaming\chatsafe\config.yaml`, `D:\home\a\AppData\Local\chatsafe\state`, `D:\home\a\AppData\Local\chatsafe`, ""}},
		{"Windows user, %LocalAppData% elsewhere", platform{goos: "windows", home: `C:\Users\a`, getenv: env(map[string]string{"LocalAppData": `\\srv\local\a\`}), exists: dirs(`C:\Users\a\AppData\Roaming\chatsafe`)},
			paths{`C:\Users\a\AppData\Roaming\chatsafe\config.yaml`, `\\srv\local\a\chatsafe\state`, `\\srv\local\a\chatsafe`, ""}},
		{"Windows user, state from before in %AppData%", platform{goos: "windows", home: `C:\Users\a`, getenv: env(map[string]string{
			"AppData": `C:\Users\a\AppData\Roaming`, "LocalAppData": `C:\Users\a\AppData\Local`}), exists: dirs(`C:\Users\a\AppData\Roaming\chatsafe\state`)},
			paths{`C:\Users\a\AppData\Roaming\chatsafe\config.yaml`, `C:\Users\a\AppData\Roaming\chatsafe\state`, `C:\Users\a\AppData\Roaming\chatsafe`, ""}},
		{"Windows user, state in both: the new one wins", platform{goos: "windows", home: `C:\Users\a`, getenv: env(map[string]string{
			"AppData": `C:\Users\a\AppData\Roaming`, "LocalAppData": `C:\Users\a\AppData\Local`}),
			exists: dirs(`C:\Users\a\AppData\Roaming\chatsafe\state`, `C:\Users\a\AppData\Local\chatsafe\state`)},
			paths{`C:\Users\a\AppData\Roaming\chatsafe\config.yaml`, `C:\Users\a\AppData\Local\chatsafe\state`, `C:\Users\a\AppData\Local\chatsafe`, ""}},
		{"Windows system, a user's old state is no matter", platform{goos: "windows", system: true, home: `C:\x`,
			getenv: env(map[string]string{"AppData": `C:\x\AppData\Roaming`}), exists: dirs(`C:\x\AppData\Roaming\chatsafe\state`)},
			paths{`C:\ProgramData\chatsafe\config.yaml`, `C:\ProgramData\chatsafe\state`, `C:\ProgramData\chatsafe`, ""}},
		{"linux user, exists is no matter", platform{goos: "linux", home: "/home/a", getenv: none, exists: dirs("/home/a/AppData/Roaming/chatsafe/state")},
			paths{"/home/a/.config/chatsafe/config.yaml", "/home/a/.local/state/chatsafe", "/home/a/.local/share/chatsafe", ""}},
		{"Windows system", platform{goos: "windows", system: true, home: `C:\Windows\system32\config\systemprofile`, getenv: env(map[string]string{"ProgramData": `E:\ProgramData\`})},
			paths{`E:\ProgramData\chatsafe\config.yaml`, `E:\ProgramData\chatsafe\state`, `E:\ProgramData\chatsafe`, ""}},
		{"Windows system, no %ProgramData%", platform{goos: "windows", system: true, home: `C:\x`, getenv: none},
			paths{`C:\ProgramData\chatsafe\config.yaml`, `C:\ProgramData\chatsafe\state`, `C:\ProgramData\chatsafe`, ""}},
	} {
		if got := defaultPaths(c.p); got != c.want {
			t.Errorf("%s:\n got  %+v\n want %+v", c.name, got, c.want)
		}
	}
}

// A new installation at the default config keeps the default places (as
// root /var/lib/chatsafe, not /etc/chatsafe/state beside the config);
// anywhere else it goes beside its config.
func TestDefaultFor(t *testing.T) {
	def := DefaultConfigPath()
	if got, want := DefaultFor(def, def), Default(); got.StateDir != want.StateDir || got.Remotes[0].URL != want.Remotes[0].URL {
		t.Errorf("at the default config: state %s, remote %s; want %s, %s", got.StateDir, got.Remotes[0].URL, want.StateDir, want.Remotes[0].URL)
	}
	other := filepath.Join(t.TempDir(), "inst", "chatsafe.yaml")
	if got, want := DefaultFor(other, def), DefaultAt(other); got.StateDir != want.StateDir || got.StatusSocket != want.StatusSocket || got.Remotes[0].URL != want.Remotes[0].URL {
		t.Errorf("at %s: %+v, want %+v", other, got, want)
	}
}
