package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fullConfig sets every key of chatsafe.example.yaml to a value other than
// its default, with comments, blank lines, aligned line comments, a
// relative path, ~ and $$: what a person writes by hand.
const fullConfig = `# My chatsafe, set up by hand.
source: ~/chats-$$old   # the phone's export

state_dir: state

# Two remotes: the NAS first.
remotes:
  - name: nas          # in the cupboard
    url: /mnt/nas/chatsafe
    bwlimit: 2M
  - name: cloud
    url: gdrive:chatsafe
rclone_config: rclone.conf

key:
  # kept by the office vault
  vault:
    url: https://vault.example.org
    account: alice
    ca_file: vault-ca.pem
  password_file: vault-password
key_store: file

sync:
  quiet_period: 3s        # quieter
  max_delay: 45s
  full_scan_every: 2h
  full_read_every: 12h

retention:
  keep_last: 5
  keep_hourly: 24
  keep_daily: 14
  keep_weekly: 8
  keep_monthly: 6

prune:
  every: 12h
  max_upload: 1GiB

exclude:
  - "*.tmp"
  - cache/

status_socket: /tmp/chatsafe-update-test.sock
retry_for: 2m

log:
  level: debug    # while setting up
  format: json

# The status page and metrics, for my dashboard.
ui_listen: 127.0.0.1:18385
metrics_listen: 127.0.0.1:19385
# That's all.
`

// loadFull writes fullConfig into a new directory and loads it.
func loadFull(t *testing.T) (string, *Config) {
	t.Helper()
	asUser(t, 1000)
	t.Setenv("HOME", "/home/alice")
	p := writeConfig(t, fullConfig)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

// changedLines returns the lines of a that b does not have and the lines
// of b that a does not have, outside their common first and last lines.
func changedLines(a, b string) (gone, added []string) {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	i := 0
	for i < len(la) && i < len(lb) && la[i] == lb[i] {
		i++
	}
	j := 0
	for j < len(la)-i && j < len(lb)-i && la[len(la)-1-j] == lb[len(lb)-1-j] {
		j++
	}
	return la[i : len(la)-j], lb[i : len(lb)-j]
}

func readString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWriteChangesOnlyTheEditedKey: writing a loaded config back with one
// setting changed changes that setting's line(s) and nothing else: every
// other setting, comment, blank line and the order stay, and the file
// loads to the edited config.
func TestWriteChangesOnlyTheEditedKey(t *testing.T) {
	tests := []struct {
		key  string // what every changed line must mention
		edit func(c *Config)
	}{
		{"source:", func(c *Config) { c.Source = "/srv/chats$x" }},
		{"state_dir:", func(c *Config) { c.StateDir = "/var/tmp/cs-state" }},
		{"usb", func(c *Config) { c.Remotes = append(c.Remotes, Remote{Name: "usb", URL: "/media/usb"}) }},
		{"rclone_config:", func(c *Config) { c.RcloneConfig = "/etc/rclone.conf" }},
		{"url:", func(c *Config) { c.Key.Vault.URL = "https://a.example.org,https://b.example.org" }},
		{"account:", func(c *Config) { c.Key.Vault.Account = "bob" }},
		{"ca_file:", func(c *Config) { c.Key.Vault.CAFile = "/etc/ca.pem" }},
		{"password_file:", func(c *Config) { c.Key.PasswordFile = "/etc/chatsafe/new-password" }},
		{"key_store:", func(c *Config) { c.KeyStore = "keyring" }},
		{"quiet_period:", func(c *Config) { c.Sync.QuietPeriod = Duration(5 * time.Second) }},
		{"full_read_every:", func(c *Config) { c.Sync.FullReadEvery = Duration(48 * time.Hour) }},
		{"keep_daily:", func(c *Config) { c.Retention.KeepDaily = -1 }},
		{"max_upload:", func(c *Config) { c.Prune.MaxUpload = 0 }},
		{"thumbnails", func(c *Config) { c.Exclude = append(c.Exclude, "media/**/thumbnails") }},
		{"status_socket:", func(c *Config) { c.StatusSocket = "/tmp/other.sock" }},
		{"retry_for:", func(c *Config) { c.RetryFor = Duration(time.Minute) }},
		{"level:", func(c *Config) { c.Log.Level = "warn" }},
		{"ui_listen:", func(c *Config) { c.UIListen = "127.0.0.1:8385" }},
		{"metrics_listen:", func(c *Config) { c.MetricsListen = "" }},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.key, ":"), func(t *testing.T) {
			p, c := loadFull(t)
			tt.edit(c)
			if err := c.Write(p); err != nil {
				t.Fatal(err)
			}
			got := readString(t, p)
			back, err := Load(p)
			if err != nil {
				t.Fatalf("the written file does not load: %v\n%s", err, got)
			}
			if d := settingsDiff(back, c); len(d) > 0 {
				t.Errorf("the written file loads with %q, unlike the edited config\n%s", d, got)
			}
			gone, added := changedLines(fullConfig, got)
			if len(gone)+len(added) == 0 {
				t.Fatalf("nothing changed:\n%s", got)
			}
			for _, l := range append(gone, added...) {
				if !strings.Contains(l, tt.key) {
					t.Fatalf("line %q changed (of %d gone, %d added), want only lines with %q\nwritten:\n%s", l, len(gone), len(added), tt.key, got)
				}
			}
		})
	}
}

// TestWriteRemovesAndAddsASection: removing the vault (key
// remove-password) drops exactly its lines, keeping the comments; setting
// it again (key set-password) gives the settings back, and on a file
// init wrote the two together give back the same bytes.
func TestWriteRemovesAndAddsASection(t *testing.T) {
	p, c := loadFull(t)
	vault, pwFile := c.Key.Vault, c.Key.PasswordFile
	c.Key.Vault, c.Key.PasswordFile = Vault{}, ""
	if err := c.Write(p); err != nil {
		t.Fatal(err)
	}
	want := fullConfig
	for _, l := range []string{"  vault:\n", "    url: https://vault.example.org\n", "    account: alice\n", "    ca_file: vault-ca.pem\n", "  password_file: vault-password\n"} {
		want = strings.Replace(want, l, "", 1)
	}
	if got := readString(t, p); got != want {
		t.Errorf("without the vault the file is\n%s\nwant\n%s", got, want)
	}
	c.Key.Vault, c.Key.PasswordFile = vault, pwFile
	if err := c.Write(p); err != nil {
		t.Fatal(err)
	}
	back, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := Parse(p, []byte(fullConfig))
	if d := settingsDiff(back, orig); len(d) > 0 {
		t.Errorf("with the vault again, %q differ from the original", d)
	}
	got := readString(t, p)
	for _, l := range strings.Split(fullConfig, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") && !strings.Contains(got, l) {
			t.Errorf("comment %q is lost:\n%s", l, got)
		}
	}

	// A file as init writes it: a vault set and removed again leaves it as it was.
	dir := t.TempDir()
	fresh := filepath.Join(dir, "config.yaml")
	c = DefaultAt(fresh)
	c.Source = "/chats"
	if err := c.Write(fresh); err != nil {
		t.Fatal(err)
	}
	before := readString(t, fresh)
	c, err = Load(fresh)
	if err != nil {
		t.Fatal(err)
	}
	c.Key.Vault = Vault{URL: "https://vault.example.org", Account: "alice", CAFile: filepath.Join(dir, "ca.pem")}
	c.Key.PasswordFile = filepath.Join(dir, "pw")
	if err := c.Write(fresh); err != nil {
		t.Fatal(err)
	}
	withVault := readString(t, fresh)
	if gone, _ := changedLines(before, withVault); len(gone) != 0 {
		t.Errorf("setting the vault replaced lines %q:\n%s", gone, withVault)
	}
	c.Key.Vault, c.Key.PasswordFile = Vault{}, ""
	if err := c.Write(fresh); err != nil {
		t.Fatal(err)
	}
	if after := readString(t, fresh); after != before {
		t.Errorf("vault set and removed: the file is\n%s\nwas\n%s", after, before)
	}
}

// TestRenderKeepsEverySetting: a config written new (init, the daemon's
// first start) holds every setting, the status page and metrics too.
func TestRenderKeepsEverySetting(t *testing.T) {
	_, c := loadFull(t)
	p := filepath.Join(t.TempDir(), "new.yaml")
	if err := c.Write(p); err != nil {
		t.Fatal(err)
	}
	back, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if d := settingsDiff(back, c); len(d) > 0 {
		t.Errorf("a new file loads with %q, unlike the config:\n%s", d, readString(t, p))
	}
}

// TestWriteOddShapes: files people write in every YAML shape the loader
// accepts (flow style, values on the next line, quotes, CRLF, no final
// newline, a document end, lists not indented, comments inside sections)
// take every kind of edit the commands make, and load as the edited
// config.
func TestWriteOddShapes(t *testing.T) {
	asUser(t, 1000)
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	t.Setenv("USER", "alice")
	example, err := os.ReadFile("chatsafe.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string]string{
		"example":       string(example),
		"crlf":          strings.ReplaceAll(fullConfig, "\n", "\r\n"),
		"no newline":    strings.TrimSuffix(fullConfig, "\n"),
		"minimal":       "source: /chats\n",
		"document end":  "---\nsource: /chats\nlog:\n  level: info\n...\n",
		"flow":          "source: /chats\nkey:\n  vault: {url: 'https://a', account: b}\nremotes: [{name: a, url: /r}]\nexclude: [a, b]\n",
		"null sections": "source: /x\nkey: ~  # none yet\nlog:\nretention: {keep_last: 3}\n",
		"quoted":        "source: \"/ch ats\"   # q\nkey:\n  password_file: '/p''w'\n  vault:\n    url: \"https://v\"\n    account: 'al'\nui_listen: \"127.0.0.1:1\" # u\n",
		"next line":     "source:\n  /chats\nkey:\n  password_file:\n    /pw\n  vault:\n    url:\n      https://v\n    account: a\nui_listen:\n  127.0.0.1:5\n",
		"multi-line":    "source: /a\n  b\nkey:\n  password_file: /p\n    q\n  vault:\n    url: https://v\n    account: a\n",
		"not indented":  "source: /x\nremotes:\n- name: a\n  url: /r\n- name: b\n  url: /s\nexclude:\n- a\n",
		"unicode, tabs": "# ü\nsource: /chäts\t# ß\nkey:\n  password_file: /pü # é\n  vault: {url: 'https://ü', account: ä}\n",
		"comments":      "source: /x\nkey:\n  vault:\n    # c\n    url: https://v   # u\n\n    account: a\n\n  # p\n  password_file: /p\n\n# end\n",
	}
	edits := []func(c *Config){
		func(c *Config) {
			c.Key.Vault = Vault{URL: "https://v.example", Account: "al$ice", CAFile: "/ca"}
			c.Key.PasswordFile = "/pw"
		},
		func(c *Config) { c.Key.Vault, c.Key.PasswordFile = Vault{}, "" },
		func(c *Config) { c.UIListen, c.MetricsListen = "127.0.0.1:8385", "" },
		func(c *Config) { c.Remotes = append(c.Remotes, Remote{Name: "new", URL: "/new"}) },
		func(c *Config) { c.Retention.KeepWeekly, c.Exclude = 7, append(c.Exclude, "x/") },
		func(c *Config) { c.Source, c.Exclude, c.Remotes = "/new src", nil, c.Remotes[:1] },
	}
	for name, data := range shapes {
		for i, edit := range edits {
			p := writeConfig(t, data)
			c, err := Load(p)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			edit(c)
			if err := c.Write(p); err != nil {
				t.Errorf("%s, edit %d: %v", name, i, err)
				continue
			}
			back, err := Load(p)
			if err != nil {
				t.Fatalf("%s, edit %d: %v", name, i, err)
			}
			if d := settingsDiff(back, c); len(d) > 0 {
				t.Errorf("%s, edit %d: the file loads with %q, unlike the edited config", name, i, d)
			}
		}
	}
}

// TestWriteRefusesWhatItCannotKeep: a change to a value another key
// refers to (a YAML alias) cannot be made line by line: the file is left
// as it is, and the message says what to set by hand.
func TestWriteRefusesWhatItCannotKeep(t *testing.T) {
	const data = "source: &s /x\nrclone_config: *s\n"
	p := writeConfig(t, data)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	c.Source = "/y"
	err = c.Write(p)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "set source: /y there yourself") {
		t.Fatalf("Write = %v", err)
	}
	if got := readString(t, p); got != data {
		t.Errorf("the file changed to\n%s", got)
	}
}

// TestWriteKeepsASymlink: a config kept elsewhere and linked (dotfiles)
// is updated where it is; the link stays a link.
func TestWriteKeepsASymlink(t *testing.T) {
	target := writeConfig(t, "source: /x   # mine\n")
	link := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.Symlink(target, link); err != nil {
		t.Skip("no symlinks here:", err)
	}
	c, err := Load(link)
	if err != nil {
		t.Fatal(err)
	}
	c.Log.Level = "warn"
	if err := c.Write(link); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link is gone: %v %v", fi, err)
	}
	if got := readString(t, target); got != "source: /x   # mine\nlog:\n  level: warn\n" {
		t.Errorf("the linked file is\n%s", got)
	}
}

// TestWriteRefusalShowsNoSecrets: an edit that cannot be made in place is
// refused with the settings to set by hand, and a remote's connection
// string there keeps its backend and path but no parameter's value: keys
// and passwords ride in them.
func TestWriteRefusalShowsNoSecrets(t *testing.T) {
	const data = "source: &s /x\nrclone_config: *s\nremotes:\n" +
		"  - name: cloud\n    url: \":s3,provider=AWS,access_key_id=AKIAOLDKEY,secret_access_key='old,sec:ret':bucket/chats\"\n"
	p := writeConfig(t, data)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	c.Source = "/y"
	c.Remotes[0].URL = ":s3,provider=AWS,access_key_id=AKIANEWKEY,secret_access_key=newsecret:bucket/chats"
	c.Remotes = append(c.Remotes, Remote{Name: "dav", URL: "dav,pass=davpass,user=alice:backups"})
	err = c.Write(p)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "source: /y") {
		t.Fatalf("Write = %v, want a refusal naming source: /y", err)
	}
	for _, secret := range []string{"AKIAOLDKEY", "old,sec", "AKIANEWKEY", "newsecret", "davpass", "alice"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the refusal shows %q:\n%v", secret, err)
		}
	}
	for _, shown := range []string{"remotes", ":s3", "bucket/chats", "dav", "backups"} {
		if !strings.Contains(err.Error(), shown) {
			t.Errorf("the refusal does not name %q:\n%v", shown, err)
		}
	}
	if got := readString(t, p); got != data {
		t.Errorf("the file changed to\n%s", got)
	}
}

// TestWriteFlowStyleIsLoadedBack: a file in flow style (or only
// comments) is rendered whole, and the result is checked as an edit in
// place is: one that would load as other settings (here a relative
// source, which loads relative to the file) is refused, the file
// unchanged, as it is in block style.
func TestWriteFlowStyleIsLoadedBack(t *testing.T) {
	for _, data := range []string{"source: /x\n", "{source: /x}\n"} {
		p := writeConfig(t, data)
		c, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		c.Source = "chats"
		if err := c.Write(p); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "set source: chats there yourself") {
			t.Errorf("%q: Write of a source that loads as another = %v, want a refusal", data, err)
		}
		if got := readString(t, p); got != data {
			t.Errorf("%q: the file changed to\n%s", data, got)
		}
	}
}
