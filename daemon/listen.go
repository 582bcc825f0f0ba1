package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/statusui"
)

// webListeners are the optional TCP listeners: the status page
// (ui_listen) and a plain /metrics (metrics_listen). They are opened
// before the daemon reports ready, so a port in use fails start-up with a
// message rather than later in a log line.
type webListeners struct {
	d         *Daemon
	ui        net.Listener
	uiHandler http.Handler
	metrics   net.Listener
}

// openListeners opens what the config asks for; ui_listen and
// metrics_listen change only when the daemon restarts.
func (d *Daemon) openListeners(cfg *configs.Config) (*webListeners, error) {
	w := &webListeners{d: d}
	if cfg.UIListen != "" {
		tok, err := statusui.LoadOrCreateToken(cfg.StateDir)
		if err != nil {
			return nil, err
		}
		if w.ui, err = net.Listen("tcp", cfg.UIListen); err != nil {
			return nil, fmt.Errorf("ui_listen %s: %w (choose another port, or leave ui_listen out)", cfg.UIListen, err)
		}
		_, port, _ := net.SplitHostPort(w.ui.Addr().String())
		w.uiHandler = statusui.NewHandler(d, tok, port, d.log)
		d.log.Info("status page listening", zap.String("addr", w.ui.Addr().String()), zap.String("open_with", cmdline.For(cfg.Path).Line("ui")))
	}
	if cfg.MetricsListen != "" {
		var err error
		if w.metrics, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			w.close()
			return nil, fmt.Errorf("metrics_listen %s: %w (choose another port, or leave metrics_listen out)", cfg.MetricsListen, err)
		}
		d.log.Info("metrics listening", zap.String("addr", w.metrics.Addr().String()))
	}
	d.mu.Lock()
	d.webAddrs = w.addrs()
	d.mu.Unlock()
	return w, nil
}

func (w *webListeners) addrs() WebAddrs {
	var a WebAddrs
	if w.ui != nil {
		a.UI = w.ui.Addr().String()
	}
	if w.metrics != nil {
		a.Metrics = w.metrics.Addr().String()
	}
	return a
}

func (w *webListeners) close() {
	if w.ui != nil {
		w.ui.Close()
	}
	if w.metrics != nil {
		w.metrics.Close()
	}
}

// serve runs the listeners in g until ctx is done.
func (w *webListeners) serve(ctx context.Context, g *errgroup.Group) {
	if w.ui != nil {
		g.Go(func() error { return serveHTTP(ctx, w.ui, w.uiHandler, "status page") })
	}
	if w.metrics != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", w.d.metrics.handler)
		g.Go(func() error { return serveHTTP(ctx, w.metrics, mux, "metrics") })
	}
}

// serveHTTP serves h on ln until ctx is done, then shuts down.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, what string) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("%s: %w", what, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// WebAddrs are the addresses the daemon's TCP listeners got ("" = off);
// with port 0 in the config, this is where the port chosen shows.
type WebAddrs struct {
	UI      string
	Metrics string
}

// WebAddrs reports the listeners' addresses once the daemon is ready.
func (d *Daemon) WebAddrs() WebAddrs {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.webAddrs
}
