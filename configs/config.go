// Package configs owns chatsafe's configuration: the YAML schema, strict
// loading with line-numbered errors, defaults and each system's default
// paths (paths.go: XDG on Linux, Application Support on macOS, %AppData%,
// %LocalAppData% and %ProgramData% on Windows), path expansion, exclude globs, writing a
// commented config file for `chatsafe init`, and writing one back changing
// only the lines of the settings that changed (update.go).
package configs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrConfig is wrapped by every error about the configuration itself
// (syntax, unknown keys, bad values, missing files it names). The CLI maps it
// to the "bad usage/config" exit code.
var ErrConfig = errors.New("invalid configuration")

// Config is a loaded, expanded and validated configuration.
type Config struct {
	// Source is the chat-history directory that is backed up (absolute).
	Source string `yaml:"source"`
	// StateDir holds the local state: key cache, file cache, spool.
	StateDir string `yaml:"state_dir"`
	// Remotes are the rclone remotes every backup is uploaded to.
	Remotes []Remote `yaml:"remotes"`
	// RcloneConfig is an rclone.conf to read remotes from ("" = rclone's default).
	RcloneConfig string `yaml:"rclone_config"`
	Key          Key    `yaml:"key"`
	// KeyStore is where this device keeps its copy of the backup key:
	// auto (the OS keyring when one answers, else the file), keyring or
	// file (state_dir/key, mode 0600).
	KeyStore  string    `yaml:"key_store"`
	Sync      Sync      `yaml:"sync"`
	Retention Retention `yaml:"retention"`
	Prune     Prune     `yaml:"prune"`
	// Exclude holds globs over slash paths relative to Source; see Excluded.
	Exclude []string `yaml:"exclude"`
	// StatusSocket is the unix socket the daemon serves its status API on.
	// Each installation has its own (see DefaultSocket).
	StatusSocket string `yaml:"status_socket"`
	// RetryFor caps the time one call to a remote may spend retrying a
	// transient failure (0 = no time cap: the retry count alone decides).
	RetryFor Duration `yaml:"retry_for"`
	Log      Log      `yaml:"log"`
	// UIListen is the loopback HOST:PORT of the status page ("" = off,
	// the default: see listen.go).
	UIListen string `yaml:"ui_listen"`
	// MetricsListen is the loopback HOST:PORT of a plain /metrics for a
	// Prometheus scrape ("" = off; /metrics is always on the socket).
	MetricsListen string `yaml:"metrics_listen"`

	// Path is the file the config was loaded from ("" for Default()).
	Path string `yaml:"-"`

	// lines maps a dotted key ("sync.quiet_period", "remotes[1].url") to
	// the line it was set on, so later checks can point at it.
	lines map[string]int
}

// Remote is one backup destination: anything rclone accepts as a remote
// ("gdrive:chats", "s3:bucket/x", a connection string, or a local path).
type Remote struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// BwLimit is an rclone --bwlimit value for this remote ("" = unlimited).
	BwLimit string `yaml:"bwlimit"`
}

// Key says where the backup key comes from besides the local key cache.
type Key struct {
	Vault Vault `yaml:"vault"`
	// PasswordFile holds the vault password (first line), for unattended use.
	PasswordFile string `yaml:"password_file"`
}

// Vault locates the Backup Key Vault account.
type Vault struct {
	// URL is one vault URL or a comma-separated list of replicas.
	URL     string `yaml:"url"`
	Account string `yaml:"account"`
	// CAFile is a PEM bundle to trust for the vault's TLS certificate.
	CAFile string `yaml:"ca_file"`
}

// Enabled reports whether a vault is configured.
func (v Vault) Enabled() bool { return strings.TrimSpace(v.URL) != "" }

// URLs splits URL into its comma-separated parts, trimmed, empty parts dropped.
func (v Vault) URLs() []string {
	var out []string
	for _, u := range strings.Split(v.URL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// Sync tunes how file-system events become backup cycles.
type Sync struct {
	// QuietPeriod: a cycle starts once no change was seen for this long.
	QuietPeriod Duration `yaml:"quiet_period"`
	// MaxDelay caps how long a steady stream of changes can defer a cycle.
	MaxDelay Duration `yaml:"max_delay"`
	// FullScanEvery: a full rescan catches what events missed.
	FullScanEvery Duration `yaml:"full_scan_every"`
	// FullReadEvery: every SQLite database is read whole at least this
	// often, which bounds how long a page an incremental read carried
	// over wrongly can stay wrong (docs/sqlite.md).
	FullReadEvery Duration `yaml:"full_read_every"`
}

// Retention is the snapshot policy, with restic's meanings: keep the newest
// KeepLast snapshots, and the newest snapshot of each of the last KeepHourly
// hours, KeepDaily days, and so on. -1 means unlimited; 0 means none by that
// rule. The newest snapshot is always kept.
type Retention struct {
	KeepLast    int `yaml:"keep_last"`
	KeepHourly  int `yaml:"keep_hourly"`
	KeepDaily   int `yaml:"keep_daily"`
	KeepWeekly  int `yaml:"keep_weekly"`
	KeepMonthly int `yaml:"keep_monthly"`
}

// Prune schedules compaction of the repository.
type Prune struct {
	Every Duration `yaml:"every"`
	// MaxUpload caps the bytes one prune run may rewrite (0 = unlimited).
	MaxUpload Size `yaml:"max_upload"`
}

// Log configures the daemon's logger.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text (human-readable, zap's console encoder) or json.
	Format string `yaml:"format"`
}

// Default values that are not paths.
const (
	DefaultQuietPeriod   = 2 * time.Second
	DefaultMaxDelay      = 30 * time.Second
	DefaultFullScanEvery = time.Hour
	DefaultFullReadEvery = 24 * time.Hour
	DefaultPruneEvery    = 24 * time.Hour
	DefaultMaxUpload     = 500 << 20 // 500MiB
	DefaultRemoteName    = "local"
)

// DefaultRetention is used when the config has no retention section.
var DefaultRetention = Retention{KeepLast: 10, KeepHourly: 48, KeepDaily: 30, KeepWeekly: 12, KeepMonthly: 24}

// Default returns the embedded defaults: no source (it must be given), state
// and socket in the system's default places (defaultPaths; the system's
// installation as root), and one local remote under DefaultDataDir.
func Default() *Config {
	c := &Config{
		Remotes:   []Remote{{Name: DefaultRemoteName, URL: filepath.Join(DefaultDataDir(), "remote")}},
		Sync:      Sync{QuietPeriod: Duration(DefaultQuietPeriod), MaxDelay: Duration(DefaultMaxDelay), FullScanEvery: Duration(DefaultFullScanEvery), FullReadEvery: Duration(DefaultFullReadEvery)},
		Retention: DefaultRetention,
		Prune:     Prune{Every: Duration(DefaultPruneEvery), MaxUpload: DefaultMaxUpload},
		Log:       Log{Level: "info", Format: "text"},
		KeyStore:  "auto",
	}
	c.SetStateDir(defaultStateDir())
	return c
}

// SetStateDir moves the installation's state to dir, and its status
// socket with it (DefaultSocket): the socket belongs to the installation,
// as its state does. Code that builds a config sets the state directory
// only through here, so the socket is derived in one place.
func (c *Config) SetStateDir(dir string) {
	c.StateDir = dir
	c.StatusSocket = DefaultSocket(dir)
}

// DefaultSocket is the status socket of the installation whose state lives
// in stateDir, so that two installations never share one. On Linux the
// default state directory keeps the well-known
// $XDG_RUNTIME_DIR/chatsafe/chatsafe.sock (/run/chatsafe/chatsafe.sock as
// root); any other state directory, and every one on macOS and Windows
// (which have no runtime directory), holds its own socket,
// stateDir/chatsafe.sock (on Windows the name of a pipe, see
// statusapi/peercred). Where that path would not fit in a
// socket address (104 bytes on macOS), the socket goes to the runtime
// directory under a name made of a short hash of stateDir.
func DefaultSocket(stateDir string) string {
	runtime := runtimeDir()
	if filepath.Clean(stateDir) == defaultStateDir() && runtime != "" {
		return filepath.Join(runtime, "chatsafe", "chatsafe.sock")
	}
	if p := filepath.Join(stateDir, "chatsafe.sock"); len(p) <= maxPortableSocketPath {
		return p
	}
	sum := sha256.Sum256([]byte(filepath.Clean(stateDir)))
	name := "chatsafe-" + hex.EncodeToString(sum[:6]) + ".sock"
	if runtime != "" {
		return filepath.Join(runtime, "chatsafe", name)
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("chatsafe-%d", geteuid()), name)
}

// maxPortableSocketPath is macOS's sun_path (104 bytes) less the NUL.
const maxPortableSocketPath = 103

// DefaultFor is the embedded defaults of a new installation whose config
// file is configPath: DefaultAt(configPath), unless configPath is
// defaultPath, the machine's default config, whose installation keeps the
// default places (for root, /var/lib/chatsafe, which the system service
// may write; not /etc/chatsafe beside the config). init and the daemon
// both make new installations this way, so they agree.
func DefaultFor(configPath, defaultPath string) *Config {
	abs, err := filepath.Abs(configPath)
	if err != nil {
		abs = configPath
	}
	if abs == filepath.Clean(defaultPath) {
		return Default()
	}
	return DefaultAt(configPath)
}

// DefaultAt is the embedded defaults for a config file at configPath that
// does not exist yet: state, the local remote and the socket all live in
// configPath's directory, so one directory holds the whole installation
// (`chatsafe daemon --config F --source DIR` on a new F).
func DefaultAt(configPath string) *Config {
	dir := filepath.Dir(configPath)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	c := Default()
	c.SetStateDir(filepath.Join(dir, "state"))
	c.Remotes = []Remote{{Name: DefaultRemoteName, URL: filepath.Join(dir, "remote")}}
	return c
}

// isLocalPath reports whether an rclone remote string is a plain local path
// rather than "remote:path", ":backend:path" or a connection string.
func isLocalPath(remote string) bool {
	i := strings.IndexByte(remote, ':')
	if i < 0 {
		return true
	}
	j := strings.IndexByte(remote, '/')
	return j >= 0 && j < i
}

func validVaultURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
