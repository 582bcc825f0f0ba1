package remotes

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/config"
	"github.com/rclone/rclone/fs/config/configfile"
	"github.com/rclone/rclone/fs/fspath"
	"github.com/rclone/rclone/lib/atexit"
	"go.uber.org/zap"
)

// Options tune how Open opens a remote.
type Options struct {
	// RcloneConfig is the path of rclone.conf; "" = rclone's default path.
	// RCLONE_CONFIG_PASS unlocks an encrypted one. rclone's configuration is
	// process-wide, so all remotes named from rclone.conf that are open at the
	// same time must use the same file.
	RcloneConfig string
	// BwLimit limits this remote's bandwidth in rclone's --bwlimit syntax
	// ("1M", "512k:2M" for upload:download, "08:00,512k 19:00,off" for a
	// timetable); "" = none.
	BwLimit string
	// Name is a friendly name for String() (our config's remotes: [{name,
	// url}]); "" = derived from the spec, credentials redacted.
	Name string
	// StalePartialAge is the age past which the temporary object of an
	// upload (tmp/....partial, on backends without atomic uploads) counts
	// as left by an interrupted upload: such objects are removed when this
	// process first writes to the remote. 0 = DefaultStalePartialAge;
	// negative = never at open (CleanupPartial still does).
	StalePartialAge time.Duration
	// Log receives rclone's own notices, warnings and errors (the caller's
	// logger: the daemon's, the CLI's). rclone's logging is process-wide,
	// so the last non-nil Log given to Open wins; nil leaves it as it is.
	Log *zap.Logger
}

// DefaultStalePartialAge is long enough that an upload still running
// elsewhere (another device that has not yet seen it was taken over, a slow
// link) keeps its temporary object.
const DefaultStalePartialAge = time.Hour

// lowLevelRetries bounds rclone's own per-request retries (its pacer still
// spaces them). WithRetry adds the long, jittered backoff on top, so rclone's
// default of 10 would only make a dead remote take minutes to report.
const lowLevelRetries = 3

var (
	initOnce sync.Once
	// defaultConfigPath is rclone's own choice of rclone.conf, taken before we
	// change anything.
	defaultConfigPath string

	// cfgMu guards rclone's process-wide config file state.
	cfgMu sync.Mutex
	// cfgPath is the rclone.conf in use and cfgUsers the number of open
	// remotes that were named from it: it may only change while that is zero,
	// or an OAuth token refreshed later would be written into the wrong file.
	cfgPath  string
	cfgUsers int
)

// rclone is set up before anything can use it: its logger and global config
// are not safe to change while rclone goroutines run.
func init() { setupRclone() }

// setupRclone makes rclone a quiet library: warnings and errors go to our
// logger, it never prompts for a password, configuration is read from
// (and OAuth tokens written back to) the file we name, and signals stay the
// program's own.
func setupRclone() {
	initOnce.Do(func() {
		// rclone's lib/atexit installs a SIGINT/SIGTERM handler the first
		// time a backend registers a clean-up (an S3 multipart upload does),
		// and that handler calls os.Exit(143) before the daemon can stop
		// cleanly. Without it the program's own signal handling decides; the
		// clean-ups it would have run (aborting an unfinished multipart
		// upload) run anyway, because cancelling an upload's context fails
		// it and rclone runs them on failure (atexit.OnError).
		atexit.IgnoreSignals()
		defaultConfigPath = config.GetConfigPath()
		ci := fs.GetConfig(context.Background())
		ci.AskPassword = false
		// NOTICE is what rclone's own command line shows by default.
		ci.LogLevel = fs.LogLevelNotice
		fs.SetLogger(&rcloneLogHandler{})
	})
}

// useConfig points rclone at path (loading it now so a broken or locked file is
// an error here rather than a fatal exit inside rclone) and registers a user.
// cfgMu must be held.
func useConfig(path string) error {
	if path == "" {
		path = defaultConfigPath
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("rclone config path %q: %w", path, err)
	}
	if abs == cfgPath && cfgUsers > 0 {
		cfgUsers++
		return nil
	}
	if cfgUsers > 0 {
		return fmt.Errorf("%w: remotes from %s are still open; all remotes named from rclone.conf must use the same rclone_config", ErrPermanent, cfgPath)
	}
	if err := config.SetConfigPath(abs); err != nil {
		return fmt.Errorf("%w: rclone config path %q: %w", ErrPermanent, abs, err)
	}
	configfile.Install()
	if err := config.Data().Load(); err != nil && !errors.Is(err, config.ErrorConfigFileNotFound) {
		return fmt.Errorf("%w: reading rclone config %s: %w", ErrPermanent, abs, err)
	}
	config.LoadedData() // marks it loaded; the file was just read successfully
	cfgPath = abs
	cfgUsers = 1
	return nil
}

func releaseConfig() {
	cfgMu.Lock()
	defer cfgMu.Unlock()
	if cfgUsers > 0 {
		cfgUsers--
	}
}

// Open opens a remote named any of three ways: a remote from rclone.conf
// ("gdrive:chats"), an rclone connection string
// (":s3,provider=Minio,endpoint='http://127.0.0.1:9000':bucket/x") or a plain
// path ("/mnt/nas/chats", "./x": rclone's local backend). A path that doesn't
// exist yet is created on first Put. The returned Remote is safe for
// concurrent use; Close it when done.
func Open(ctx context.Context, spec string, opts Options) (Remote, error) {
	setupRclone()
	if opts.Log != nil {
		SetRcloneLogger(opts.Log)
	}
	desc := opts.Name
	if desc == "" {
		desc = Redact(spec)
	}
	fail := func(err error) (Remote, error) {
		return nil, fmt.Errorf("opening remote %s: %w", desc, err)
	}
	if strings.TrimSpace(spec) == "" {
		return fail(fmt.Errorf("%w: empty remote: give an rclone remote (name:path), a connection string or a path", ErrBadRemote))
	}
	parsed, err := fspath.Parse(spec)
	if err != nil {
		return fail(fmt.Errorf("%w: not a valid rclone remote: %w", ErrBadRemote, err))
	}
	limiter, err := newBwLimiter(opts.BwLimit)
	if err != nil {
		return fail(err)
	}

	// A named remote needs rclone.conf; connection strings and paths don't,
	// but still read it for rclone's defaults without holding it in place.
	named := parsed.Name != "" && !strings.HasPrefix(parsed.Name, ":")
	info := remoteInfo{}
	cfgMu.Lock()
	if named {
		if err := useConfig(opts.RcloneConfig); err != nil {
			cfgMu.Unlock()
			return fail(err)
		}
		info.configName = parsed.Name
		info.configPath = cfgPath
	}
	fsInfo, _, _, _, perr := fs.ParseRemote(spec)
	if perr != nil {
		if named {
			cfgUsers--
		}
		cfgMu.Unlock()
		if errors.Is(perr, fs.ErrorNotFoundInConfigFile) {
			return fail(fmt.Errorf("%w: there is no remote %q in %s: run `rclone config` to create it (or check the config's rclone_config, or --rclone-config)", ErrBadRemote, parsed.Name, configLabel(info.configPath)))
		}
		return fail(fmt.Errorf("%w: %w (the backends built in: %s)", ErrBadRemote, perr, strings.Join(BuiltInBackends(), ", ")))
	}
	info.backend = fsInfo.Name

	// A root ending in "/" is a directory to rclone: it skips probing whether
	// the root is a file (one request fewer; and some servers answer that
	// probe with 200 for a directory prefix).
	if parsed.Path != "" && !strings.HasSuffix(parsed.Path, "/") && !strings.HasSuffix(parsed.Path, "\\") {
		spec += "/"
	}
	cfgCtx, ci := fs.AddConfig(context.Background())
	ci.LowLevelRetries = lowLevelRetries
	ci.AskPassword = false
	newCtx := fs.CopyConfig(ctx, cfgCtx)
	f, err := fs.NewFs(newCtx, spec)
	cfgMu.Unlock()
	if err != nil || f == nil {
		if named {
			releaseConfig()
		}
		if errors.Is(err, fs.ErrorIsFile) {
			return fail(fmt.Errorf("%w: it names a file; name the folder that should hold the backup", ErrPermanent))
		}
		if err == nil {
			err = errors.New("backend returned no filesystem")
		}
		return fail(wrapErr(ctx, "connect", "", "", info, err))
	}
	return &rcloneRemote{
		f:        f,
		desc:     desc,
		info:     info,
		cfgCtx:   cfgCtx,
		limiter:  limiter,
		named:    named,
		atomic:   atomicBackends[info.backend],
		staleAge: staleAge(opts.StalePartialAge),
	}, nil
}

func staleAge(d time.Duration) time.Duration {
	if d == 0 {
		return DefaultStalePartialAge
	}
	return d
}

// shownParams are connection-string parameters that identify a remote without
// being secret; everything else is left out of String().
var shownParams = map[string]bool{
	"provider": true, "endpoint": true, "url": true, "region": true, "host": true,
	"port": true, "vendor": true, "service": true,
}

// Redact returns spec in a form fit for logs and status: a connection string
// keeps only its backend, path and non-secret parameters (endpoint, url,
// region, ...; URLs without user info or query), never keys, passwords or
// tokens.
func Redact(spec string) string {
	parsed, err := fspath.Parse(spec)
	if err != nil {
		return "(invalid remote)"
	}
	if parsed.Name == "" {
		return parsed.Path // a local path
	}
	var b strings.Builder
	b.WriteString(parsed.Name)
	keys := make([]string, 0, len(parsed.Config))
	for k := range parsed.Config {
		if shownParams[strings.ToLower(k)] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := parsed.Config[k]
		if u, err := url.Parse(v); err == nil && u.Host != "" {
			u.User, u.RawQuery, u.Fragment = nil, "", ""
			v = u.String()
		}
		fmt.Fprintf(&b, ",%s='%s'", k, strings.ReplaceAll(v, "'", "''"))
	}
	b.WriteString(":")
	b.WriteString(parsed.Path)
	return b.String()
}
