package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
)

// settingsDiff names the first setting that differs between a and b (""
// when none does), field by field.
func settingsDiff(a, b *configs.Config) string {
	va, vb := reflect.ValueOf(*a), reflect.ValueOf(*b)
	for i := range va.NumField() {
		f := va.Type().Field(i)
		if !f.IsExported() || f.Name == "Path" {
			continue
		}
		if x, y := va.Field(i).Interface(), vb.Field(i).Interface(); !reflect.DeepEqual(x, y) {
			return fmt.Sprintf("%s: %+v, not %+v", f.Name, x, y)
		}
	}
	return ""
}

func loadConfig(t *testing.T, p string) *configs.Config {
	t.Helper()
	c, err := configs.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestKeyCommandsKeepTheConfig: key set-password and key remove-password
// write the config back. Every setting the user wrote stays, with their
// comments, blank lines and order: only the vault's keys change.
func TestKeyCommandsKeepTheConfig(t *testing.T) {
	d := startVaultUser(t, "settings kept")
	state := filepath.Join(d.home, "state")
	run(t, d.home, append([]string{"init", "--source", d.src, "--remote", d.remote, "--config", d.cfg, "--state-dir", state}, d.vaultArgs(d.pw)...)...).want(t, 0, "kept by the vault")
	rcloneConf := filepath.Join(d.home, "rclone.conf")
	os.WriteFile(rcloneConf, nil, 0o600)
	// The user's own config: every setting other than its default, commented.
	own := fmt.Sprintf(`# Alice's chatsafe
source: %s   # the phone's export

state_dir: %s

remotes:
  - name: home        # the first one
    url: %s
    bwlimit: 4M
rclone_config: %s

key:
  # the office vault
  vault:
    url: %s
    account: alice
    ca_file: %s
  password_file: %s
key_store: file

sync:
  quiet_period: 3s     # calmer
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
status_socket: %s
retry_for: 2m
log:
  level: debug
  format: json

# For my dashboard.
ui_listen: 127.0.0.1:18385
metrics_listen: 127.0.0.1:19385
# end of my settings
`, d.src, state, d.remote, rcloneConf, d.url, d.ca, d.pw, filepath.Join(state, "my.sock"))
	if err := os.WriteFile(d.cfg, []byte(own), 0o600); err != nil {
		t.Fatal(err)
	}
	orig := loadConfig(t, d.cfg)

	// A new password: the password file's line changes, nothing else.
	pw2 := filepath.Join(d.home, "pw2")
	os.WriteFile(pw2, []byte("another password\n"), 0o600)
	run(t, d.home, "key", "set-password", "--config", d.cfg, "--password-file", pw2).want(t, 0, "kept by the vault")
	want := strings.Replace(own, "password_file: "+d.pw+"\n", "password_file: "+pw2+"\n", 1)
	if got := readFile(t, d.cfg); got != want {
		t.Errorf("after key set-password the config is\n%s\nwant\n%s", got, want)
	}
	edited := *orig
	edited.Key.PasswordFile = pw2
	if diff := settingsDiff(loadConfig(t, d.cfg), &edited); diff != "" {
		t.Errorf("after key set-password: %s", diff)
	}

	// No vault: its lines go, the rest (its comment too) stays.
	run(t, d.home, "key", "remove-password", "--config", d.cfg).want(t, 0, "no longer holds")
	want = own
	for _, l := range []string{"  vault:\n", "    url: " + d.url + "\n", "    account: alice\n", "    ca_file: " + d.ca + "\n", "  password_file: " + d.pw + "\n"} {
		want = strings.Replace(want, l, "", 1)
	}
	if got := readFile(t, d.cfg); got != want {
		t.Errorf("after key remove-password the config is\n%s\nwant\n%s", got, want)
	}
	edited = *orig
	edited.Key = configs.Key{}
	if diff := settingsDiff(loadConfig(t, d.cfg), &edited); diff != "" {
		t.Errorf("after key remove-password: %s", diff)
	}

	// The vault again: the settings are the user's own once more.
	run(t, d.home, append([]string{"key", "set-password", "--config", d.cfg}, d.vaultArgs(d.pw)...)...).want(t, 0, "kept by the vault")
	if diff := settingsDiff(loadConfig(t, d.cfg), orig); diff != "" {
		t.Errorf("after key set-password with the vault flags: %s\n%s", diff, readFile(t, d.cfg))
	}
	got := readFile(t, d.cfg)
	for _, l := range strings.Split(own, "\n") {
		if strings.Contains(l, "#") && !strings.Contains(got, l) {
			t.Errorf("line %q is lost:\n%s", l, got)
		}
	}
}
