package daemon

import (
	"context"
	"maps"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
	"github.com/chatsafe/chatsafe/watcher"
)

// session is one configuration's worth of running parts: the watcher,
// the backup loop and one uploader per remote. A reload ends the session
// and starts a new one; the repository and the socket stay.
type session struct {
	d         *Daemon
	cfg       *configs.Config
	w         *watcher.Watcher
	uploaders []*uploader
}

// newSession opens what the current configuration names: remotes that
// were already open are kept, removed ones are closed, new ones opened.
// Opening a remote may wait on its server (rclone connects at once to
// some backends), so it is done without d.mu, which a status takes: only
// the session loop (serveSessions) changes d.open while the daemon runs.
func (d *Daemon) newSession(ctx context.Context) (*session, error) {
	cfg := d.config()
	w, err := watcher.New(cfg.Source, watcher.Options{
		QuietPeriod:   time.Duration(cfg.Sync.QuietPeriod),
		MaxDelay:      time.Duration(cfg.Sync.MaxDelay),
		FullScanEvery: time.Duration(cfg.Sync.FullScanEvery),
		Exclude:       cfg.Excluded,
		Log:           d.log,
	})
	if err != nil {
		return nil, err
	}
	s := &session{d: d, cfg: cfg, w: w}

	d.mu.Lock()
	open := maps.Clone(d.open)
	d.mu.Unlock()
	keep := map[string]bool{}
	for _, rc := range cfg.Remotes {
		keep[rc.Name] = true
		o, ok := open[rc.Name]
		if ok && o.conf != rc && o.remote != d.readFrom {
			o.remote.Close()
			delete(open, rc.Name)
			ok = false
		}
		if !ok {
			r, err := instance.OpenRemote(ctx, cfg, rc, d.retry())
			if err != nil {
				// A remote that cannot even be opened (bad spec) must not
				// stop the others; it shows in status as failing, and
				// nothing leaves the spool until it is fixed.
				d.log.Error("opening a remote failed; it is skipped until the configuration is fixed", zap.String("remote", rc.Name), zap.Error(err))
				s.uploaders = append(s.uploaders, newUploader(d, store.BrokenTarget(rc.Name, err), false))
				continue
			}
			o = openRemote{conf: rc, remote: r}
			open[rc.Name] = o
		}
		up := o.remote
		if d.opts.WrapUpload != nil {
			up = d.opts.WrapUpload(up)
		}
		s.uploaders = append(s.uploaders, newUploader(d, store.NewTarget(rc.Name, up), o.remote == d.readFrom))
	}
	for name, o := range open {
		if !keep[name] && o.remote != d.readFrom {
			o.remote.Close()
			delete(open, name)
		}
	}
	d.mu.Lock()
	d.open = open
	d.uploaders = s.uploaders
	d.mu.Unlock()
	targets := make([]*store.Target, len(s.uploaders))
	for i, u := range s.uploaders {
		targets[i] = u.t
	}
	d.store.SetTargets(targets)
	return s, nil
}

// Serve runs the session until ctx is done.
func (s *session) Serve(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.w.Run(ctx) })
	g.Go(func() error { return s.d.backupLoop(ctx, s.w) })
	g.Go(func() error { return s.d.watchSource(ctx, s.cfg.Source, false) })
	for _, u := range s.uploaders {
		g.Go(func() error { return u.Serve(ctx) })
	}
	return g.Wait()
}

// retry is the daemon's retry tuning for each remote. Without a Budget of
// its own, instance.OpenRemote takes the retry_for of the config being
// applied (a reload may have changed it).
func (d *Daemon) retry() remotes.RetryOptions {
	ro := d.opts.Retry
	ro.Log = d.log
	return ro
}
