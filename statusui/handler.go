// Package statusui owns the daemon's status page: plain HTML, CSS and a
// little JavaScript embedded in the binary, and the JSON it polls, served
// on the loopback address of ui_listen. It reads the same Backend the
// status API's documents come from (the daemon) plus a short history for
// the charts.
//
// A loopback port is open to every local user and to every web page in a
// local browser, so every request is checked: the Host must be a
// loopback name (a DNS-rebinding page has its own), the caller must hold
// the token kept in the state directory (none: 401, wrong: 403; the
// token arrives once in the URL and then lives in a SameSite=Strict,
// HttpOnly cookie), no CORS header is ever sent, and the actions are POSTs
// that need a custom header and a same-origin Origin, which a cross-site
// form or fetch cannot supply.
package statusui

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/statusapi"
)

//go:embed web
var webFS embed.FS

// ActionHeader must be present on every POST (the page's script sets it).
const ActionHeader = "X-Chatsafe-Action"

// Handler serves the page for one token.
type Handler struct {
	b      Backend
	token  string
	cookie string
	log    *zap.Logger
	mux    *http.ServeMux
	// ui is the command that opens the page, for the errors that say
	// to (uiCmd): the daemon's config is known once it answers.
	uiOnce sync.Once
	ui     string
}

// uiCmd is `chatsafe ui` for the daemon's installation.
func (h *Handler) uiCmd() string {
	h.uiOnce.Do(func() { h.ui = cmdline.For(h.b.Status().Config).Cmd("ui") })
	return h.ui
}

// NewHandler returns the page's routes. port names the cookie, so that
// two installations on one machine (two ports) keep their own.
func NewHandler(b Backend, token, port string, log *zap.Logger) *Handler {
	if log == nil {
		log = zap.NewNop()
	}
	h := &Handler{b: b, token: token, cookie: "chatsafe_ui_" + port, log: log, mux: http.NewServeMux()}
	static, _ := fs.Sub(webFS, "web")
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /{$}", h.index)
	h.mux.HandleFunc("GET /api/state", h.authed(h.state))
	h.mux.HandleFunc("POST /api/backup", h.action(h.backup))
	h.mux.HandleFunc("POST /api/pause", h.action(h.pause(true)))
	h.mux.HandleFunc("POST /api/resume", h.action(h.pause(false)))
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	if !loopbackHost(r.Host) {
		http.Error(w, "this page answers only on a loopback address", http.StatusForbidden)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// loopbackHost accepts localhost and loopback IPs, with or without a port.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// credential is what the request presents: the bearer token, else the
// cookie; "" when it presents nothing.
func (h *Handler) credential(r *http.Request) string {
	if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
		return strings.TrimPrefix(a, "Bearer ")
	}
	if c, err := r.Cookie(h.cookie); err == nil {
		return c.Value
	}
	return ""
}

func (h *Handler) valid(tok string) bool {
	return subtle.ConstantTimeCompare([]byte(tok), []byte(h.token)) == 1
}

// check answers 401 (no credential) or 403 (a wrong one) and reports
// whether the request may go on.
func (h *Handler) check(w http.ResponseWriter, r *http.Request) bool {
	tok := h.credential(r)
	switch {
	case tok == "":
		w.Header().Set("WWW-Authenticate", `Bearer realm="chatsafe"`)
		http.Error(w, "no token: open the page with "+h.uiCmd(), http.StatusUnauthorized)
		return false
	case !h.valid(tok):
		http.Error(w, "wrong token: open the page again with "+h.uiCmd(), http.StatusForbidden)
		return false
	}
	return true
}

func (h *Handler) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.check(w, r) {
			next(w, r)
		}
	}
}

// action guards a state-changing POST against cross-site requests.
func (h *Handler) action(next http.HandlerFunc) http.HandlerFunc {
	return h.authed(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(ActionHeader) == "" {
			http.Error(w, "missing "+ActionHeader+" header", http.StatusForbidden)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
		next(w, r)
	})
}

// index takes the token from the URL once, puts it in a cookie and sends
// the browser to a URL without it (out of the history and the address
// bar), then serves the page.
func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	if tok := r.URL.Query().Get("token"); tok != "" {
		if !h.valid(tok) {
			http.Error(w, "wrong token: open the page again with "+h.uiCmd(), http.StatusForbidden)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: h.cookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if !h.check(w, r) {
		return
	}
	b, err := webFS.ReadFile("web/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b)
}

func (h *Handler) state(w http.ResponseWriter, r *http.Request) {
	snaps := h.b.Snapshots()
	slices.Reverse(snaps)
	if len(snaps) > maxSnapshots {
		snaps = snaps[:maxSnapshots]
	}
	if snaps == nil {
		snaps = []statusapi.Snapshot{}
	}
	st := h.b.Status()
	writeJSON(w, http.StatusOK, State{Status: st, Snapshots: snaps, History: h.b.History(), Alerts: alerts(st)})
}

func (h *Handler) backup(w http.ResponseWriter, r *http.Request) {
	res, err := h.b.Backup(r.Context(), statusapi.BackupRequest{})
	if err != nil {
		h.log.Warn("backup from the status page failed", zap.Error(err))
		writeJSON(w, http.StatusInternalServerError, statusapi.ErrorBody{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *Handler) pause(paused bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.b.SetPaused(r.Context(), paused); err != nil {
			code := http.StatusInternalServerError
			if errors.Is(err, r.Context().Err()) {
				code = http.StatusServiceUnavailable
			}
			writeJSON(w, code, statusapi.ErrorBody{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"paused": paused})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
