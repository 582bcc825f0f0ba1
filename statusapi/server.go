package statusapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/statusapi/peercred"
)

// Backend is what the daemon provides to the API.
type Backend interface {
	Status() Status
	Snapshots() []Snapshot
	// Backup runs one cycle now and returns once it is committed and its
	// upload was tried (BackupResult). An error with a class (WithClass)
	// is answered with it.
	Backup(ctx context.Context, req BackupRequest) (BackupResult, error)
	// Subscribe returns a stream of events and a function that ends it.
	Subscribe() (<-chan Event, func())
	SetLogLevel(level string) error
	LogLevel() string
	// Metrics serves GET /metrics (Prometheus text format).
	Metrics() http.Handler
}

// ErrOffline is a Backend's answer while it cannot reach the repository
// (StateOffline): 503, which the client gives back as client.ErrOffline.
var ErrOffline = errors.New("the daemon runs offline: its repository could not be opened yet")

// NewHandler returns the API's routes, every one behind peercred.Require.
func NewHandler(b Backend, log *zap.Logger) http.Handler {
	if log == nil {
		log = zap.NewNop()
	}
	h := &handler{b: b, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, b.Status()) })
	mux.HandleFunc("GET /v1/snapshots", func(w http.ResponseWriter, r *http.Request) {
		s := b.Snapshots()
		if s == nil {
			s = []Snapshot{}
		}
		writeJSON(w, http.StatusOK, s)
	})
	mux.HandleFunc("POST /v1/backup", h.backup)
	mux.HandleFunc("GET /v1/events", h.events)
	mux.HandleFunc("GET /v1/loglevel", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, LogLevel{Level: b.LogLevel()})
	})
	mux.HandleFunc("PUT /v1/loglevel", h.setLogLevel)
	mux.Handle("GET /metrics", b.Metrics())
	return peercred.Require(mux)
}

type handler struct {
	b   Backend
	log *zap.Logger
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeErr(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, ErrorBody{Error: err.Error(), Class: ClassOf(err)})
}

// readBody decodes a small JSON body; an empty body leaves v as is.
func readBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("bad request body: %w", err)
	}
	return nil
}

func (h *handler) backup(w http.ResponseWriter, r *http.Request) {
	var req BackupRequest
	if err := readBody(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	res, err := h.b.Backup(r.Context(), req)
	if errors.Is(err, ErrOffline) {
		writeErr(w, http.StatusServiceUnavailable, err)
		return
	}
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *handler) setLogLevel(w http.ResponseWriter, r *http.Request) {
	var req LogLevel
	if err := readBody(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	if err := h.b.SetLogLevel(req.Level); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, LogLevel{Level: h.b.LogLevel()})
}

// events streams newline-delimited JSON until the client goes away or the
// server stops.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	ch, cancel := h.b.Subscribe()
	defer cancel()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if err := enc.Encode(ev); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

// Server serves the API on a listener.
type Server struct {
	Handler http.Handler
	Log     *zap.Logger
}

// Serve runs until ctx is done, then shuts down: requests in flight get a
// few seconds, streams end at once. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler,
		ConnContext:       peercred.ConnContext,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("status socket: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("status socket: %w", err)
	}
	return nil
}
