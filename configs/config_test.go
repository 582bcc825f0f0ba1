package configs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// asUser makes the default paths those of a non-root user for one test.
func asUser(t *testing.T, uid int) {
	t.Helper()
	old := geteuid
	geteuid = func() int { return uid }
	t.Cleanup(func() { geteuid = old })
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadErrors(t *testing.T) {
	t.Setenv("CHATSAFE_TEST_UNSET", "")
	os.Unsetenv("CHATSAFE_TEST_UNSET")
	long := "/" + strings.Repeat("s", 120)
	tests := []struct {
		name, body string
		line       int
		want       string // the message after "config.yaml:LINE: "
	}{
		{"unknown top-level key", "source: /src\nsoruce: /x\n", 2,
			`unknown key "soruce" (known: source, state_dir, remotes, rclone_config, key, key_store, sync, retention, prune, exclude, status_socket, retry_for, log, ui_listen, metrics_listen)`},
		{"unknown nested key", "source: /src\nsync:\n  quiet_perod: 2s\n", 3,
			`unknown key "quiet_perod" in sync (known: quiet_period, max_delay, full_scan_every, full_read_every)`},
		{"unknown key in a list item", "source: /src\nremotes:\n  - name: a\n    url: /a\n  - name: b\n    uri: /b\n", 6,
			`unknown key "uri" in remotes[1] (known: name, url, bwlimit)`},
		{"unknown key in vault", "source: /src\nkey:\n  vault:\n    host: x\n", 4,
			`unknown key "host" in key.vault (known: url, account, ca_file)`},
		{"bad duration", "source: /src\nsync:\n  quiet_period: 2 sec\n", 3,
			`sync.quiet_period: invalid duration "2 sec" (use e.g. 2s, 500ms, 1m)`},
		{"duration as list", "source: /src\nsync:\n  max_delay: [1s]\n", 3,
			`sync.max_delay: expected a single value, got a list`},
		{"bad size", "source: /src\nprune:\n  max_upload: lots\n", 3,
			`prune.max_upload: invalid size "lots" (use e.g. 500MiB, 2GiB, 0 for unlimited)`},
		{"int expected", "source: /src\nretention:\n  keep_daily: seven\n", 3,
			`retention.keep_daily: expected a whole number, got "seven"`},
		{"int out of range", "source: /src\nretention:\n  keep_daily: 99999999999\n", 3,
			`retention.keep_daily: number "99999999999" is out of range`},
		{"section not a mapping", "source: /src\nsync: fast\n", 2,
			`sync: expected keys (a mapping), got "fast"`},
		{"list not a list", "source: /src\nremotes: gdrive:x\n", 2,
			`remotes: expected a list, got "gdrive:x"`},
		{"string expected", "source:\n  - /a\n", 2,
			`source: expected a string, got a list`},
		{"duplicate key", "source: /src\nlog:\n  level: info\n  level: debug\n", 4,
			`log.level is set twice (first on line 3); keep one`},
		{"yaml syntax", "source: /src\nsync:\n  quiet_period: 2s\n max_delay: 3s\n", 3, // yaml.v3 names the line the broken mapping starts on
			`invalid YAML: did not find expected key`},
		{"two documents", "source: /src\n---\nsource: /b\n", 2,
			`more than one YAML document; a config file holds exactly one`},
		{"source missing", "log:\n  level: info\n", 0,
			`source is required (the chat-history directory to back up)`},
		{"source empty", "source: \"\"\n", 1,
			`source is required (the chat-history directory to back up)`},
		{"no remotes", "source: /src\nremotes: []\n", 2,
			`remotes: at least one remote is required (leave the key out for the default local remote)`},
		{"bad bwlimit", "source: /src\nremotes:\n  - name: a\n    url: /a\n    bwlimit: fast\n", 5,
			`remotes[0].bwlimit "fast" is not a bandwidth limit in rclone's --bwlimit syntax: "fast" is not a number followed by a unit (examples: "1M", "512k:4M", "08:00,512k 19:00,off")`},
		{"remote without name", "source: /src\nremotes:\n  - url: /a\n", 3,
			`remotes[0].name is required (a short label such as gdrive or nas)`},
		{"remote without url", "source: /src\nremotes:\n  - name: a\n", 3,
			`remotes[0].url is required (an rclone remote such as gdrive:chats, or a local path)`},
		{"remote bad name", "source: /src\nremotes:\n  - name: my remote\n    url: /a\n", 3,
			`remotes[0].name "my remote": use letters, digits, '_', '.' and '-' only`},
		{"remote duplicate name", "source: /src\nremotes:\n  - name: a\n    url: /a\n  - name: a\n    url: /b\n", 5,
			`remotes[1].name "a" is already used by remotes[0]; names must be unique`},
		{"vault bad url", "source: /src\nkey:\n  vault:\n    url: https://ok.example, ftp://x\n    account: me\n", 4,
			`key.vault.url: "ftp://x" is not an http(s) URL (use e.g. https://vault.example.org, several separated by commas)`},
		{"vault without account", "source: /src\nkey:\n  vault:\n    url: https://v.example\n", 3,
			`key.vault.account is required when key.vault.url is set`},
		{"unknown key store", "source: /src\nkey_store: vault\n", 2,
			`key_store "vault": use auto, keyring or file`},
		{"password file without vault", "source: /src\nkey:\n  password_file: /pw\n", 3,
			`key.password_file is set but key.vault.url is not; add the vault URL or remove key.password_file`},
		{"quiet period zero", "source: /src\nsync:\n  quiet_period: 0\n", 3,
			`sync.quiet_period must be positive (e.g. 2s)`},
		{"max delay below quiet period", "source: /src\nsync:\n  quiet_period: 5s\n  max_delay: 1s\n", 4,
			`sync.max_delay (1s) must be at least sync.quiet_period (5s)`},
		{"full scan negative", "source: /src\nsync:\n  full_scan_every: -1h\n", 3,
			`sync.full_scan_every must be positive (e.g. 1h)`},
		{"full read zero", "source: /src\nsync:\n  full_read_every: 0s\n", 3,
			`sync.full_read_every must be positive (e.g. 24h)`},
		{"full read negative", "source: /src\nsync:\n  full_read_every: -24h\n", 3,
			`sync.full_read_every must be positive (e.g. 24h)`},
		// Intervals short enough to make the daemon loop against its
		// remotes (a prune every 10ms listed them 70 times a second).
		{"quiet period below minimum", "source: /src\nsync:\n  quiet_period: 1ns\n", 3,
			`sync.quiet_period (1ns) must be at least 100ms (e.g. 2s)`},
		{"max delay below minimum", "source: /src\nsync:\n  quiet_period: 100ms\n  max_delay: 500ms\n", 4,
			`sync.max_delay (500ms) must be at least 1s: under a steady stream of changes a backup, and a listing of the first remote, runs this often`},
		{"full scan below minimum", "source: /src\nsync:\n  full_scan_every: 1s\n", 3,
			`sync.full_scan_every (1s) must be at least 10s (e.g. 1h)`},
		{"prune below minimum", "source: /src\nprune:\n  every: 10ms\n", 3,
			`prune.every (10ms) must be 0 (no automatic prune) or at least 10m: each prune lists every remote and may rewrite small deltas there`},
		{"retention below -1", "source: /src\nretention:\n  keep_weekly: -2\n", 3,
			`retention.keep_weekly: -2 is not allowed (use a count, 0 for none, -1 for unlimited)`},
		{"retention keeps nothing", "source: /src\nretention:\n  keep_last: 0\n  keep_hourly: 0\n  keep_daily: 0\n  keep_weekly: 0\n  keep_monthly: 0\n", 2,
			`retention: every keep_* is 0, which would delete all snapshots but the newest; set at least one`},
		{"prune negative", "source: /src\nprune:\n  every: -1s\n", 3,
			`prune.every must not be negative (0 disables automatic pruning)`},
		{"bad glob", "source: /src\nexclude:\n  - ok\n  - \"media/[abc\"\n", 4,
			`exclude[1]: "media/[abc" is not a valid glob (check [ ] and { } pairs)`},
		{"absolute glob", "source: /src\nexclude:\n  - /tmp\n", 3,
			`exclude[0]: "/tmp": patterns are relative to source; drop the leading /`},
		{"empty glob", "source: /src\nexclude:\n  - \"\"\n", 3,
			`exclude[0]: empty pattern; remove it`},
		{"socket path too long", "source: /src\nstatus_socket: " + long + "\n", 2,
			`status_socket: path is 121 bytes, longer than the 107 a unix socket allows; choose a shorter path`},
		{"bad log level", "source: /src\nlog:\n  level: loud\n", 3,
			`log.level "loud" is not one of debug, info, warn, error`},
		{"bad log format", "source: /src\nlog:\n  format: xml\n", 3,
			`log.format "xml" is not one of text, json`},
		{"unset variable", "source: $CHATSAFE_TEST_UNSET/chats\n", 1,
			`source: environment variable $CHATSAFE_TEST_UNSET is not set (set it, or write $$ for a literal $)`},
		{"tilde user", "source: /src\nstate_dir: ~bob/state\n", 2,
			`state_dir: "~bob/state": only ~ and ~/ are expanded, not ~user; write the full path`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConfig(t, tt.body)
			_, err := Load(p)
			if err == nil {
				t.Fatalf("Load accepted:\n%s", tt.body)
			}
			want := p + ": " + tt.want
			if tt.line > 0 {
				want = p + ":" + strconv.Itoa(tt.line) + ": " + tt.want
			}
			if err.Error() != want {
				t.Errorf("error\n got: %s\nwant: %s", err, want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error does not wrap ErrConfig")
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Line != tt.line || ce.File != p {
				t.Errorf("error as *Error = %+v, want line %d of %s", ce, tt.line, p)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, ErrConfig) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want ErrConfig and fs.ErrNotExist", err)
	}
}

func TestListenMustBeLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8385": true, "[::1]:0": true, "localhost:9000": true,
		"0.0.0.0:8385": false, "192.168.1.2:80": false, "127.0.0.1": false, "127.0.0.1:http": false, ":8385": false,
	} {
		err := CheckLoopback(addr)
		if (err == nil) != ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}
