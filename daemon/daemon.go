// Package daemon owns the running chatsafe service: start-up (config
// check, the installation opened through instance: the backup key, the
// remotes, the store and its single-instance state lock; then the status
// socket), the backup cycles that turn the watcher's change sets into
// spooled deltas, one uploader per remote, each running the store's
// per-remote sync step (back-filling remotes added later), scheduled
// prunes (prune.every, run between cycles with the uploaders paused),
// following the source directory when it is removed and created again,
// config reload, and clean shutdown. Every long-running part is a service
// with Serve(ctx) under one supervisor (an errgroup in Run).
package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sync/errgroup"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/logs"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/source"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusapi/peercred"
	"github.com/chatsafe/chatsafe/store"
)

// ErrAlreadyRunning means another daemon (or a CLI backup) holds this
// installation's state directory or status socket.
var ErrAlreadyRunning = errors.New("another chatsafe daemon is already running for this installation")

// Options configure a Daemon.
type Options struct {
	Config *configs.Config
	// Log is the daemon's logger; its level is what PUT /v1/loglevel changes.
	Log *logs.Logger
	// Version is the binary's, as `chatsafe version` names it: the status,
	// the start-up log and chatsafe_build_info show it.
	Version string
	// Reload re-reads the configuration when Reload is called (SIGHUP);
	// nil means the configuration cannot be reloaded.
	Reload func() (*configs.Config, error)
	// FetchKey gets the backup key when the local key cache is empty
	// (the vault); nil means the cache must hold it.
	FetchKey func(ctx context.Context, cfg *configs.Config, retry remotes.RetryOptions) (crypt.Key, string, error)
	// WrapUpload wraps each remote as the uploaders see it (fault
	// injection in tests, such as remotes.Faulty latency); nil = as is.
	WrapUpload func(remotes.Remote) remotes.Remote
	// Retry tunes the retries of each call to a remote (Log is the
	// daemon's); zero values take remotes' defaults. A Budget (the
	// --retry-for of the run) holds over the retry_for of every config,
	// reloaded ones too; 0 leaves it to the config's.
	Retry remotes.RetryOptions
	// FileCacheSaveEvery is how long the file cache on disk may lag the
	// one in memory (0: fileCacheSaveEvery, 5 minutes; tests shorten it).
	FileCacheSaveEvery time.Duration
	// PruneEvery, when set, is how often scheduled prunes run in place of
	// prune.every, below the config's minimum (tests: prunes in seconds).
	PruneEvery time.Duration
	// FirstCycleDone, if set, is called once, when the first backup cycle
	// commits (a failed one may be the source not there yet: its retry is
	// the first backup): the daemon's own memory limit rule (memlimit.go)
	// starts from the limit the process has after it.
	FirstCycleDone func()
	// UploadWait caps how long the answer to a requested backup waits
	// for its upload (0: uploadWait, 2 minutes; tests shorten it).
	UploadWait time.Duration
	// ErrorClass names the class (statusapi.Class*) of an error the
	// status API answers with, so that a backup the CLI asked for exits
	// as it would have in the CLI; nil: no class.
	ErrorClass func(error) string
}

// Daemon is the running service. Create it with New and start it with Run.
type Daemon struct {
	opts    Options
	log     *zap.Logger
	started time.Time
	metrics *metrics
	events  *eventBus
	errs    *errLog
	hist    history

	ready     chan struct{} // closed once start-up is done
	tried     chan struct{} // closed once the first try to open is over
	reloadCh  chan struct{}
	restartCh chan struct{} // the source came back: new session, same config
	backupReq chan backupRequest

	// Set during start-up, then fixed.
	store     *store.Store
	keySource string
	readFrom  remotes.Remote   // the store's remote; never closed before exit
	stateLock *store.StateLock // held for the whole of Run

	// fileCache is the backup's file cache, loaded by the first cycle and
	// kept; only the backup loop uses it (and writes it: saveFileCache).
	fileCache *source.FileCache
	// memLimit follows the live heap after each cycle (memlimit.go).
	memLimit *memLimit

	mu        sync.Mutex
	cfg       *configs.Config
	open      map[string]openRemote // by config name
	uploaders []*uploader
	scanning  bool
	pruning   bool
	lastPrune PruneStatus
	lastErr   string
	lastState string
	noteMu    sync.Mutex  // serialises noteState
	gate      *uploadGate // prune pauses the uploaders through it
	// passEnded fires when an uploader's pass ends (uploadwait.go).
	passEnded signal
	webAddrs  WebAddrs
	offline   *offlineState // the installation could not be opened yet (open.go)
	// joinGap is what the first snapshot after this device joined
	// continued, for the status's warnings (joingap.go).
	joinGap string
	// views and snaps are the readings of the store that statuses and
	// snapshot lists answer from (storeview.go).
	views lastReading[*storeView]
	snaps lastReading[[]store.Snapshot]
}

type openRemote struct {
	conf   configs.Remote
	remote remotes.Remote
}

// New checks the options; nothing is opened until Run.
func New(opts Options) (*Daemon, error) {
	if opts.Config == nil {
		return nil, fmt.Errorf("%w: the daemon needs a configuration", configs.ErrConfig)
	}
	if opts.Log == nil {
		l, err := logs.New(logs.Options{Level: opts.Config.Log.Level, Format: opts.Config.Log.Format})
		if err != nil {
			return nil, err
		}
		opts.Log = l
	}
	d := &Daemon{
		memLimit:  newMemLimit(opts.FirstCycleDone),
		opts:      opts,
		log:       opts.Log.Logger,
		cfg:       opts.Config,
		events:    newEventBus(),
		ready:     make(chan struct{}),
		tried:     make(chan struct{}),
		started:   time.Now(),
		reloadCh:  make(chan struct{}, 1),
		restartCh: make(chan struct{}, 1),
		backupReq: make(chan backupRequest),
		open:      map[string]openRemote{},
		lastState: statusapi.StateIdle,
		gate:      newUploadGate(),
	}
	d.errs = &errLog{log: d.log, last: map[string]string{}}
	d.events.tap = d.hist.event
	d.metrics = newMetrics(d)
	return d, nil
}

// Ready is closed once Run has started every part; Status, Snapshots and
// Backup need it.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

func (d *Daemon) isReady() bool {
	select {
	case <-d.ready:
		return true
	default:
		return false
	}
}

// Reload asks the running daemon to re-read its configuration. It never
// blocks; reloads requested together are merged.
func (d *Daemon) Reload() {
	select {
	case d.reloadCh <- struct{}{}:
	default:
	}
}

func (d *Daemon) config() *configs.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// cmd is the chatsafe command "chatsafe ARGS" for this daemon's
// installation, in backquotes, as its log and errors tell to run it.
func (d *Daemon) cmd(args string) string { return cmdline.For(d.config().Path).Cmd(args) }

// Run starts the daemon and serves until ctx is done; then it stops every
// part, waits for them and returns nil. What was committed to the spool
// stays there for the next run; an interrupted cycle or upload leaves
// nothing half-done behind.
func (d *Daemon) Run(ctx context.Context) error {
	cfg := d.config()
	if err := cfg.Check(); err != nil {
		return err
	}
	// The state directory holds the socket and the status page's token,
	// which open before the installation does.
	// The state lock is held from here to the end, offline too: no
	// command that writes (prune, key rotate, repair, takeover) runs
	// beside the daemon while its remote is out of reach, and none can
	// hold the lock when it tries to open again.
	lock, err := store.LockStateDir(cfg.StateDir, cmdline.For(cfg.Path).Flag())
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w: %w", ErrAlreadyRunning, err)
	}
	if err != nil {
		return err
	}
	d.stateLock = lock
	defer lock.Release() // after closeOpened, deferred below
	ln, err := peercred.Listen(cfg.StatusSocket)
	if errors.Is(err, peercred.ErrInUse) {
		return fmt.Errorf("%w: %w: check with %s", ErrAlreadyRunning, err, cmdline.For(cfg.Path).Cmd("status"))
	}
	if err != nil {
		return err
	}
	web, err := d.openListeners(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	// The daemon owns the remotes once open (a reload opens and closes
	// some), so it closes what is open at exit rather than inst.Close.
	defer d.closeOpened()
	g, gctx := errgroup.WithContext(ctx)
	srv := &statusapi.Server{Handler: statusapi.NewHandler(d, d.log), Log: d.log}
	g.Go(func() error { return srv.Serve(gctx, ln) })
	g.Go(func() error {
		// The installation opens as the CLI opens it; a remote other
		// than the first that fails to open is kept as a broken target
		// (reported in status) rather than stopping the daemon. A first
		// remote (or vault) out of reach does not stop it either: it runs
		// offline and tries again (open.go), and nor does a full disk
		// under the state directory (diskfull.go). The status answers
		// meanwhile ("starting", then "offline" or "error").
		inst, err := d.openInstance(gctx, cfg)
		if err != nil && (!retryOpen(err) || gctx.Err() != nil) {
			return err
		}
		if err != nil {
			d.noteOffline(err, openBackoff)
			close(d.tried)
			if inst = d.waitOpen(gctx, cfg); inst == nil {
				return d.offlineErr(gctx)
			}
		}
		d.adopt(cfg, inst)
		if err == nil {
			close(d.tried)
		}
		return d.serveSessions(gctx)
	})
	web.serve(gctx, g)
	err = g.Wait()
	if d.isReady() {
		d.log.Info("daemon stopped", zap.Int("pending_deltas", len(d.store.Pending())))
	} else {
		d.log.Info("daemon stopped before the repository could be opened")
	}
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}

// adopt takes over the opened installation and reports the daemon ready.
func (d *Daemon) adopt(cfg *configs.Config, inst *instance.Instance) {
	d.keySource = inst.KeySource
	d.store = inst.Store
	d.readFrom = inst.Remotes[0]
	d.mu.Lock()
	for _, t := range inst.Store.Targets() {
		if t.Remote != nil {
			d.open[t.Name] = openRemote{conf: remoteConf(cfg, t.Name), remote: t.Remote}
		}
	}
	d.offline = nil
	d.mu.Unlock()
	d.hist.opened()
	// The first answers, if the store is busy then.
	d.views.set(d.readStore())
	d.snaps.set(d.store.Snapshots())
	d.log.Info("daemon started", zap.String("source", cfg.Source), zap.String("state_dir", cfg.StateDir),
		zap.String("socket", cfg.StatusSocket), zap.Int("remotes", len(cfg.Remotes)), zap.String("key_source", d.keySource),
		zap.String("version", d.opts.Version), zap.Int("pending_deltas", len(d.store.Pending())))
	close(d.ready)
	d.publishState(true)
}

// closeOpened closes the remotes and the store, once Run is done.
func (d *Daemon) closeOpened() {
	if !d.isReady() {
		return
	}
	d.store.Close()
	d.mu.Lock()
	for _, o := range d.open {
		o.remote.Close()
	}
	d.mu.Unlock()
}

// remoteConf is the configured remote called name.
func remoteConf(cfg *configs.Config, name string) configs.Remote {
	for _, rc := range cfg.Remotes {
		if rc.Name == name {
			return rc
		}
	}
	return configs.Remote{Name: name}
}

// serveSessions runs the watcher, the backup loop and the uploaders, and
// starts them again with the new configuration on Reload, or with the
// same one when the source directory was removed and created again.
func (d *Daemon) serveSessions(ctx context.Context) error {
	restarted := false
	for {
		sctx, cancel := context.WithCancel(ctx)
		s, err := d.newSession(ctx)
		if err != nil {
			cancel()
			if !restarted {
				return err
			}
			// The source went away again before the new session could
			// watch it: wait for it rather than stop the daemon.
			d.log.Error("cannot watch the source directory; waiting for it to be back", zap.Error(err))
			if err := d.waitForSource(ctx); err != nil || ctx.Err() != nil {
				return err
			}
			continue
		}
		done := make(chan error, 1)
		go func() { done <- s.Serve(sctx) }()
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				cancel()
				<-done
				return nil
			case err := <-done:
				cancel()
				if err != nil {
					return err
				}
				return nil
			case <-d.restartCh:
				cancel()
				if err := <-done; err != nil {
					return err
				}
				restarted, waiting = true, false
			case <-d.reloadCh:
				if d.reload() {
					cancel()
					if err := <-done; err != nil {
						return err
					}
					restarted, waiting = false, false
				}
			}
		}
	}
}

// waitForSource returns once the source directory is back (a restart was
// requested) or ctx is done; a reload request is kept for the next session.
func (d *Daemon) waitForSource(ctx context.Context) error {
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.watchSource(wctx, d.config().Source, true) }()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-ctx.Done():
	case <-d.restartCh:
	}
	return nil
}

// reload reads the configuration again and applies it; it reports
// whether the session must restart.
func (d *Daemon) reload() bool {
	if d.opts.Reload == nil {
		d.log.Warn("reload requested, but this daemon was started without a config file to re-read")
		return false
	}
	next, err := d.opts.Reload()
	if err != nil {
		d.log.Error("reloading the configuration failed; keeping the current one", zap.Error(err))
		return false
	}
	cur := d.config()
	for _, f := range []struct{ name, a, b string }{
		{"source", cur.Source, next.Source}, {"state_dir", cur.StateDir, next.StateDir}, {"status_socket", cur.StatusSocket, next.StatusSocket},
		{"ui_listen", cur.UIListen, next.UIListen}, {"metrics_listen", cur.MetricsListen, next.MetricsListen},
	} {
		if f.a != f.b {
			d.log.Warn("this setting changes only when the daemon restarts; keeping the current value", zap.String("setting", f.name), zap.String("current", f.a))
		}
	}
	next.Source, next.StateDir, next.StatusSocket = cur.Source, cur.StateDir, cur.StatusSocket
	next.UIListen, next.MetricsListen = cur.UIListen, cur.MetricsListen
	if len(next.Remotes) == 0 || next.Remotes[0] != cur.Remotes[0] {
		d.log.Warn("the first remote is the one the repository is read from; it changes only when the daemon restarts", zap.String("remote", cur.Remotes[0].Name))
		next.Remotes = append([]configs.Remote{cur.Remotes[0]}, withoutName(next.Remotes, cur.Remotes[0].Name)...)
	}
	if lvl, err := logs.ParseLevel(next.Log.Level); err == nil && next.Log.Level != cur.Log.Level {
		d.opts.Log.Level.SetLevel(lvl)
	}
	d.mu.Lock()
	d.cfg = next
	d.mu.Unlock()
	d.log.Info("configuration reloaded", zap.String("config", next.Path), zap.Int("remotes", len(next.Remotes)))
	return true
}

func withoutName(rs []configs.Remote, name string) []configs.Remote {
	var out []configs.Remote
	for _, r := range rs {
		if r.Name != name {
			out = append(out, r)
		}
	}
	return out
}

// SetLogLevel implements statusapi.Backend.
func (d *Daemon) SetLogLevel(level string) error {
	lvl, err := logs.ParseLevel(level)
	if err != nil {
		return err
	}
	d.opts.Log.Level.SetLevel(lvl)
	d.log.Info("log level changed", zap.Stringer("level", lvl))
	return nil
}

// LogLevel implements statusapi.Backend.
func (d *Daemon) LogLevel() string {
	l := d.opts.Log.Level.Level()
	if l == zapcore.WarnLevel {
		return "warn"
	}
	return l.String()
}

var pid = os.Getpid()
