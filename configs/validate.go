package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/chatsafe/chatsafe/internal/bwlimit"
)

var remoteName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// maxSocketPath is sun_path's size on Linux less the terminating NUL.
const maxSocketPath = 107

// The shortest intervals the daemon accepts. Shorter ones make it loop
// against its remotes: a backup cycle lists the first remote before it
// commits, a prune lists every remote and may rewrite small deltas there,
// and a full scan reads the whole tree (docs: configs/chatsafe.example.yaml).
// sync.full_read_every has none: it starts nothing, it only decides how a
// cycle that runs anyway reads a database.
const (
	minQuietPeriod   = 100 * time.Millisecond
	minMaxDelay      = time.Second
	minFullScanEvery = 10 * time.Second
	minPruneEvery    = 10 * time.Minute
)

var logLevels = []string{"debug", "info", "warn", "error"}
var logFormats = []string{"text", "json"}

// validate checks values that need no file system access, section by
// section; the first problem found is returned.
func (c *Config) validate() error {
	for _, check := range []func() error{c.validateBasics, c.validateRemotes, c.validateVault, c.validateSync, c.validateRetention, c.validateExclude, c.validateDaemon} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateBasics() error {
	if strings.TrimSpace(c.Source) == "" {
		return c.errAt("source", "source is required (the chat-history directory to back up)")
	}
	if c.StateDir == "" {
		return c.errAt("state_dir", "state_dir must not be empty (leave it out for the default)")
	}
	if c.RetryFor < 0 {
		return c.errAt("retry_for", "retry_for must not be negative (0 means no time limit)")
	}
	switch c.KeyStore {
	case "auto", "keyring", "file":
	default:
		return c.errAt("key_store", "key_store %q: use auto, keyring or file", c.KeyStore)
	}
	return nil
}

func (c *Config) validateRemotes() error {
	if len(c.Remotes) == 0 {
		return c.errAt("remotes", "remotes: at least one remote is required (leave the key out for the default local remote)")
	}
	names := map[string]int{}
	for i, r := range c.Remotes {
		k := fmt.Sprintf("remotes[%d]", i)
		switch {
		case r.Name == "":
			return c.errAt(k, "%s.name is required (a short label such as gdrive or nas)", k)
		case !remoteName.MatchString(r.Name):
			return c.errAt(k+".name", "%s.name %q: use letters, digits, '_', '.' and '-' only", k, r.Name)
		case r.URL == "":
			return c.errAt(k, "%s.url is required (an rclone remote such as gdrive:chats, or a local path)", k)
		}
		if r.BwLimit != "" {
			if _, err := bwlimit.Parse(r.BwLimit); err != nil {
				return c.errAt(k+".bwlimit", "%s.bwlimit %q is not a bandwidth limit in rclone's --bwlimit syntax: %v (examples: %s)", k, r.BwLimit, err, bwlimit.Examples)
			}
		}
		if j, dup := names[r.Name]; dup {
			return c.errAt(k+".name", "%s.name %q is already used by remotes[%d]; names must be unique", k, r.Name, j)
		}
		names[r.Name] = i
	}
	return nil
}

func (c *Config) validateVault() error {
	v := c.Key.Vault
	if !v.Enabled() {
		for _, k := range []string{"key.vault.account", "key.vault.ca_file", "key.password_file"} {
			if _, set := c.lines[k]; set {
				return c.errAt(k, "%s is set but key.vault.url is not; add the vault URL or remove %s", k, k)
			}
		}
		return nil
	}
	for _, u := range v.URLs() {
		if !validVaultURL(u) {
			return c.errAt("key.vault.url", "key.vault.url: %q is not an http(s) URL (use e.g. https://vault.example.org, several separated by commas)", u)
		}
	}
	if v.Account == "" {
		return c.errAt("key.vault", "key.vault.account is required when key.vault.url is set")
	}
	return nil
}

func (c *Config) validateSync() error {
	s := c.Sync
	if s.QuietPeriod <= 0 {
		return c.errAt("sync.quiet_period", "sync.quiet_period must be positive (e.g. 2s)")
	}
	if time.Duration(s.QuietPeriod) < minQuietPeriod {
		return c.errAt("sync.quiet_period", "sync.quiet_period (%s) must be at least %s (e.g. 2s)", s.QuietPeriod, Duration(minQuietPeriod))
	}
	if s.MaxDelay < s.QuietPeriod {
		return c.errAt("sync.max_delay", "sync.max_delay (%s) must be at least sync.quiet_period (%s)", s.MaxDelay, s.QuietPeriod)
	}
	if time.Duration(s.MaxDelay) < minMaxDelay {
		return c.errAt("sync.max_delay", "sync.max_delay (%s) must be at least %s: under a steady stream of changes a backup, and a listing of the first remote, runs this often", s.MaxDelay, Duration(minMaxDelay))
	}
	if s.FullScanEvery <= 0 {
		return c.errAt("sync.full_scan_every", "sync.full_scan_every must be positive (e.g. 1h)")
	}
	if time.Duration(s.FullScanEvery) < minFullScanEvery {
		return c.errAt("sync.full_scan_every", "sync.full_scan_every (%s) must be at least %s (e.g. 1h)", s.FullScanEvery, Duration(minFullScanEvery))
	}
	if s.FullReadEvery <= 0 {
		return c.errAt("sync.full_read_every", "sync.full_read_every must be positive (e.g. 24h)")
	}
	return nil
}

func (c *Config) validateRetention() error {
	r := c.Retention
	all := []struct {
		k string
		v int
	}{{"keep_last", r.KeepLast}, {"keep_hourly", r.KeepHourly}, {"keep_daily", r.KeepDaily}, {"keep_weekly", r.KeepWeekly}, {"keep_monthly", r.KeepMonthly}}
	anyKept := false
	for _, f := range all {
		if f.v < -1 {
			return c.errAt("retention."+f.k, "retention.%s: %d is not allowed (use a count, 0 for none, -1 for unlimited)", f.k, f.v)
		}
		anyKept = anyKept || f.v != 0
	}
	if !anyKept {
		return c.errAt("retention", "retention: every keep_* is 0, which would delete all snapshots but the newest; set at least one")
	}
	if c.Prune.Every < 0 {
		return c.errAt("prune.every", "prune.every must not be negative (0 disables automatic pruning)")
	}
	if c.Prune.Every > 0 && time.Duration(c.Prune.Every) < minPruneEvery {
		return c.errAt("prune.every", "prune.every (%s) must be 0 (no automatic prune) or at least %s: each prune lists every remote and may rewrite small deltas there", c.Prune.Every, Duration(minPruneEvery))
	}
	if c.Prune.MaxUpload < 0 {
		return c.errAt("prune.max_upload", "prune.max_upload must not be negative (0 means unlimited)")
	}
	return nil
}

func (c *Config) validateExclude() error {
	for i, p := range c.Exclude {
		k := fmt.Sprintf("exclude[%d]", i)
		switch {
		case strings.TrimSpace(p) == "" || p == "/":
			return c.errAt(k, "%s: empty pattern; remove it", k)
		case path.IsAbs(p):
			return c.errAt(k, "%s: %q: patterns are relative to source; drop the leading /", k, p)
		case !doublestar.ValidatePattern(strings.TrimSuffix(p, "/")):
			return c.errAt(k, "%s: %q is not a valid glob (check [ ] and { } pairs)", k, p)
		}
	}
	return nil
}

// validateDaemon checks what only the running service uses: its socket
// and its log.
func (c *Config) validateDaemon() error {
	if c.StatusSocket == "" {
		return c.errAt("status_socket", "status_socket must not be empty (leave it out for the default)")
	}
	if len(c.StatusSocket) > maxSocketPath {
		return c.errAt("status_socket", "status_socket: path is %d bytes, longer than the %d a unix socket allows; choose a shorter path", len(c.StatusSocket), maxSocketPath)
	}
	return c.checkLogAndListen()
}

func (c *Config) checkLogAndListen() error {
	if !oneOf(c.Log.Level, logLevels) {
		return c.errAt("log.level", "log.level %q is not one of %s", c.Log.Level, strings.Join(logLevels, ", "))
	}
	if !oneOf(c.Log.Format, logFormats) {
		return c.errAt("log.format", "log.format %q is not one of %s", c.Log.Format, strings.Join(logFormats, ", "))
	}
	return c.checkListen()
}

func oneOf(s string, allowed []string) bool {
	for _, a := range allowed {
		if s == a {
			return true
		}
	}
	return false
}

// Check verifies what Load cannot without touching the system: the source
// directory exists, and the files the config names (rclone config, vault
// CA, password file) can be read. The daemon calls it before starting;
// `init` may write a config before the source exists, so Load does not.
func (c *Config) Check() error {
	st, err := os.Stat(c.Source)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c.errAt("source", "source %q does not exist; create it or fix source", c.Source)
	case err != nil:
		return fmt.Errorf("%w: %w", c.errAt("source", "source %q cannot be read", c.Source), err)
	case !st.IsDir():
		return c.errAt("source", "source %q is not a directory; point it at the chat-history directory", c.Source)
	}
	for _, f := range []struct{ key, p string }{
		{"rclone_config", c.RcloneConfig},
		{"key.vault.ca_file", c.Key.Vault.CAFile},
		{"key.password_file", c.Key.PasswordFile},
	} {
		if f.p == "" {
			continue
		}
		fh, err := os.Open(f.p)
		if err != nil {
			return fmt.Errorf("%w: %w", c.errAt(f.key, "%s %q cannot be opened; fix the path or its permissions", f.key, f.p), err)
		}
		fh.Close()
	}
	return nil
}
