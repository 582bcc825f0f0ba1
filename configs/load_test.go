package configs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultPathsAsUser(t *testing.T) {
	asUser(t, 1000)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "/xdg/config")
	t.Setenv("XDG_STATE_HOME", "/xdg/state")
	t.Setenv("XDG_DATA_HOME", "/xdg/data")
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")

	d := Default()
	check := func(name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	check("DefaultConfigPath", DefaultConfigPath(), "/xdg/config/chatsafe/config.yaml")
	check("DefaultDataDir", DefaultDataDir(), "/xdg/data/chatsafe")
	check("StateDir", d.StateDir, "/xdg/state/chatsafe")
	check("StatusSocket", d.StatusSocket, "/run/user/1000/chatsafe/chatsafe.sock")
	check("local remote", d.Remotes[0].URL, "/xdg/data/chatsafe/remote")

	// Unset or relative XDG variables fall back to the home directory.
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", "relative/state")
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	d = Default()
	check("DefaultConfigPath", DefaultConfigPath(), filepath.Join(home, ".config/chatsafe/config.yaml"))
	check("DefaultDataDir", DefaultDataDir(), filepath.Join(home, ".local/share/chatsafe"))
	check("StateDir", d.StateDir, filepath.Join(home, ".local/state/chatsafe"))
	check("StatusSocket", d.StatusSocket, filepath.Join(home, ".local/state/chatsafe/chatsafe.sock"))
}

func TestDefaultPathsAsRoot(t *testing.T) {
	asUser(t, 0)
	t.Setenv("XDG_STATE_HOME", "/xdg/state") // ignored for the system service
	d := Default()
	want := map[string]string{
		DefaultConfigPath(): "/etc/chatsafe/config.yaml",
		DefaultDataDir():    "/var/lib/chatsafe/data",
		d.StateDir:          "/var/lib/chatsafe",
		d.StatusSocket:      "/run/chatsafe/chatsafe.sock",
		d.Remotes[0].URL:    "/var/lib/chatsafe/data/remote",
	}
	for got, w := range want {
		if got != w {
			t.Errorf("got %q, want %q", got, w)
		}
	}
}

func TestLoadAppliesDefaults(t *testing.T) {
	asUser(t, 1000)
	t.Setenv("XDG_STATE_HOME", "/xdg/state")
	p := writeConfig(t, "source: /src\nsync:\n  quiet_period: 500ms\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Source = "/src"
	want.Sync.QuietPeriod = Duration(500 * time.Millisecond)
	want.Path = p
	want.lines = c.lines
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", c, want)
	}
	if time.Duration(c.Sync.MaxDelay) != 30*time.Second || time.Duration(c.Sync.FullScanEvery) != time.Hour ||
		time.Duration(c.Sync.FullReadEvery) != 24*time.Hour ||
		time.Duration(c.Prune.Every) != 24*time.Hour || c.Prune.MaxUpload != 500<<20 || c.StateDir != "/xdg/state/chatsafe" {
		t.Errorf("defaults not applied: %+v", c)
	}
	// A key with no value keeps its default, too.
	c, err = Load(writeConfig(t, "source: /src\nsync:\n  max_delay:\nlog:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Sync.MaxDelay) != DefaultMaxDelay || c.Log.Level != "info" {
		t.Errorf("empty values did not keep defaults: %+v", c)
	}
}

func TestRetentionSectionIsAWholePolicy(t *testing.T) {
	c, err := Load(writeConfig(t, "source: /src\nretention:\n  keep_daily: 7\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention != (Retention{KeepDaily: 7}) {
		t.Errorf("retention = %+v, want only keep_daily 7", c.Retention)
	}
	c, err = Load(writeConfig(t, "source: /src\nretention:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention != DefaultRetention {
		t.Errorf("retention = %+v, want the default %+v", c.Retention, DefaultRetention)
	}
}

func TestLoadExpandsTildeAndVariables(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("CHATS", "/data/chats")
	t.Setenv("ACCOUNT", "alice")
	t.Setenv("VAULTHOST", "vault.example.org")
	p := writeConfig(t, `source: $CHATS/main
state_dir: ~/state
remotes:
  - name: gd
    url: gdrive:${ACCOUNT}-backup
  - name: nas
    url: ~/nas
  - name: rel
    url: relative/remote
  - name: dollar
    url: /odd/$$dir
rclone_config: ~
key:
  vault:
    url: https://${VAULTHOST}:8443, https://b.example.org
    account: $ACCOUNT
    ca_file: certs/ca.pem
  password_file: ~/pw
status_socket: sock/chatsafe.sock
exclude:
  - "$notexpanded/*.tmp"
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(p)
	got := map[string]string{
		"source":        c.Source,
		"state_dir":     c.StateDir,
		"gd":            c.Remotes[0].URL,
		"nas":           c.Remotes[1].URL,
		"rel":           c.Remotes[2].URL,
		"dollar":        c.Remotes[3].URL,
		"rclone_config": c.RcloneConfig,
		"vault.url":     c.Key.Vault.URL,
		"account":       c.Key.Vault.Account,
		"ca_file":       c.Key.Vault.CAFile,
		"password_file": c.Key.PasswordFile,
		"status_socket": c.StatusSocket,
		"exclude":       c.Exclude[0],
	}
	want := map[string]string{
		"source":        "/data/chats/main",
		"state_dir":     filepath.Join(home, "state"),
		"gd":            "gdrive:alice-backup",
		"nas":           filepath.Join(home, "nas"),
		"rel":           filepath.Join(dir, "relative/remote"),
		"dollar":        "/odd/$dir",
		"rclone_config": home,
		"vault.url":     "https://vault.example.org:8443, https://b.example.org",
		"account":       "alice",
		"ca_file":       filepath.Join(dir, "certs/ca.pem"),
		"password_file": filepath.Join(home, "pw"),
		"status_socket": filepath.Join(dir, "sock/chatsafe.sock"),
		"exclude":       "$notexpanded/*.tmp",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	if urls := c.Key.Vault.URLs(); !reflect.DeepEqual(urls, []string{"https://vault.example.org:8443", "https://b.example.org"}) {
		t.Errorf("URLs() = %q", urls)
	}
}

func TestWriteRoundTrip(t *testing.T) {
	asUser(t, 1000)
	dir := t.TempDir()
	c := Default()
	c.Source = "/home/al ice/chats: \"quoted\" $HOME #not a comment"
	c.StateDir = filepath.Join(dir, "state$1")
	c.Remotes = []Remote{
		{Name: "local", URL: filepath.Join(dir, "remote")},
		{Name: "gdrive", URL: "gdrive:chats", BwLimit: "08:00,512k 19:00,off"},
		{Name: "yes", URL: ":webdav,url='https://dav.example.org':x"},
	}
	c.RcloneConfig = "/etc/rclone.conf"
	c.Key = Key{Vault: Vault{URL: "https://a.example.org,https://b.example.org", Account: "true", CAFile: "/ca.pem"}, PasswordFile: "/pw"}
	c.Sync = Sync{QuietPeriod: Duration(1500 * time.Millisecond), MaxDelay: Duration(90 * time.Second), FullScanEvery: Duration(3 * time.Hour), FullReadEvery: Duration(36 * time.Hour)}
	c.Retention = Retention{KeepLast: -1, KeepDaily: 7}
	c.Prune = Prune{Every: 0, MaxUpload: 1234567}
	c.Exclude = []string{"*.tmp", "cache/", "media/**/thumb*", "{a,b}/x"}
	c.StatusSocket = "/run/x.sock"
	c.Log = Log{Level: "debug", Format: "json"}

	p := filepath.Join(dir, "sub", "config.yaml")
	if err := c.Write(p); err != nil {
		t.Fatal(err)
	}
	got, err := Load(p)
	if err != nil {
		data, _ := os.ReadFile(p)
		t.Fatalf("written config does not load: %v\n%s", err, data)
	}
	got.lines, got.Path = nil, ""
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after Write, want only the config (temporary file left?)", len(entries))
	}
	data, _ := os.ReadFile(p)
	if !strings.Contains(string(data), "# ") || !strings.Contains(string(data), "quiet_period: 1.5s") {
		t.Errorf("written config lacks comments or readable durations:\n%s", data)
	}

	// A minimal config (defaults, no vault, no excludes) round-trips too,
	// and overwriting keeps the file atomic.
	m := Default()
	m.Source = "/src"
	if err := m.Write(p); err != nil {
		t.Fatal(err)
	}
	got, err = Load(p)
	if err != nil {
		t.Fatal(err)
	}
	got.lines, got.Path = nil, ""
	if !reflect.DeepEqual(got, m) {
		t.Errorf("minimal round trip:\n got %+v\nwant %+v", got, m)
	}
}

func TestWriteRefusesInvalid(t *testing.T) {
	c := Default() // no source
	p := filepath.Join(t.TempDir(), "config.yaml")
	err := c.Write(p)
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("Write without source: %v, want ErrConfig", err)
	}
	if _, statErr := os.Stat(p); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("invalid config was written anyway")
	}
}

func TestExampleLoads(t *testing.T) {
	asUser(t, 1000)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USER", "alice")
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("XDG_DATA_HOME", "")
	c, err := Load("chatsafe.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	// The example documents the defaults: they must agree.
	if c.Sync != d.Sync || c.Retention != d.Retention || c.Prune != d.Prune || c.Log != d.Log {
		t.Errorf("example values differ from Default():\n%+v\n%+v", c, d)
	}
	if c.StateDir != d.StateDir || c.StatusSocket != d.StatusSocket || c.Remotes[0] != d.Remotes[0] {
		t.Errorf("example paths differ from the defaults: %q %q %+v", c.StateDir, c.StatusSocket, c.Remotes[0])
	}
	if c.Source != filepath.Join(home, "chats") || c.Key.Vault.Account != "alice" || len(c.Key.Vault.URLs()) != 2 {
		t.Errorf("example not expanded: %+v", c)
	}
	if !c.Excluded("media/2024/thumbnails/a.jpg", false) || !c.Excluded("x.tmp", false) {
		t.Errorf("example excludes do not match")
	}
}

func TestExcluded(t *testing.T) {
	c := &Config{Exclude: []string{"*.tmp", "cache/", "media/**/thumbs", "docs/*.pdf", ".git"}}
	tests := []struct {
		path  string
		isDir bool
		want  bool
	}{
		{"a.tmp", false, true},
		{"deep/er/a.tmp", false, true},
		{"a.tmpx", false, false},
		{"cache", true, true},
		{"cache", false, false}, // trailing / matches directories only
		{"cache/x.db", false, true},
		{"sub/cache/x", false, true},
		{"media/thumbs", true, true},
		{"media/2024/05/thumbs/a.jpg", false, true},
		{"media/2024/a.jpg", false, false},
		{"docs/a.pdf", false, true},
		{"docs/sub/a.pdf", false, false},
		{"other/docs/a.pdf", false, false},
		{".git/objects/ab", false, true},
		{"./a.tmp", false, true},
		{"msgstore.db", false, false},
		{"", true, false},
		{".", true, false},
	}
	for _, tt := range tests {
		if got := c.Excluded(tt.path, tt.isDir); got != tt.want {
			t.Errorf("Excluded(%q, %v) = %v, want %v", tt.path, tt.isDir, got, tt.want)
		}
	}
	if (&Config{}).Excluded("a.tmp", false) {
		t.Error("no patterns excluded a path")
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p := writeConfig(t, "source: "+filepath.Join(dir, "missing")+"\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Check()
	want := p + ":1: source \"" + filepath.Join(dir, "missing") + "\" does not exist; create it or fix source"
	if err == nil || err.Error() != want || !errors.Is(err, ErrConfig) {
		t.Errorf("Check = %v, want %s", err, want)
	}
	c.Source = file
	if err := c.Check(); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("Check on a file source = %v", err)
	}
	c.Source = dir
	if err := c.Check(); err != nil {
		t.Errorf("Check = %v, want nil", err)
	}
	c.RcloneConfig = filepath.Join(dir, "no-rclone.conf")
	if err := c.Check(); !errors.Is(err, ErrConfig) || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "rclone_config") {
		t.Errorf("Check with a missing rclone config = %v", err)
	}
}

func TestUnits(t *testing.T) {
	for in, want := range map[string]Size{"500MiB": 500 << 20, "2GB": 2e9, "1048576": 1 << 20, "0": 0, "1.5 KiB": 1536} {
		var z Size
		if err := z.UnmarshalText([]byte(in)); err != nil || z != want {
			t.Errorf("Size(%q) = %d, %v; want %d", in, z, err, want)
		}
	}
	for z, want := range map[Size]string{500 << 20: "500MiB", 1536: "1536", 3 << 40: "3TiB", 0: "0", 2e9 + 1: "2000000001"} {
		if z.String() != want {
			t.Errorf("%d.String() = %q, want %q", int64(z), z.String(), want)
		}
	}
	for d, want := range map[time.Duration]string{time.Hour: "1h", 24 * time.Hour: "24h", 90 * time.Minute: "1h30m", 2 * time.Second: "2s", time.Minute: "1m", 1500 * time.Millisecond: "1.5s", 0: "0s"} {
		if got := Duration(d).String(); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}
