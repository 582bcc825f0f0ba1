package statusui

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/statusapi"
)

type fakeBackend struct {
	mu      sync.Mutex
	backups int
	paused  bool
}

func (f *fakeBackend) Status() statusapi.Status {
	return statusapi.Status{State: statusapi.StateIdle, Source: "/chats", LastSnapshot: &statusapi.Snapshot{ShortID: "abcd1234"}}
}
func (f *fakeBackend) Snapshots() []statusapi.Snapshot {
	return []statusapi.Snapshot{{ShortID: "00000001", Seq: 1}, {ShortID: "abcd1234", Seq: 2}}
}
func (f *fakeBackend) Backup(context.Context, statusapi.BackupRequest) (statusapi.BackupResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.backups++
	return statusapi.BackupResult{Unchanged: true}, nil
}
func (f *fakeBackend) History() History { return History{Paused: f.paused} }
func (f *fakeBackend) SetPaused(_ context.Context, p bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused = p
	return nil
}

const testToken = "0123456789abcdef0123456789abcdef"

func do(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	r.Host = "127.0.0.1:8385"
	for k, v := range hdr {
		if k == "Host" {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("%s %s sent a CORS header", method, target)
	}
	return w
}

func TestAuth(t *testing.T) {
	b := &fakeBackend{}
	h := NewHandler(b, testToken, "8385", nil)
	bearer := map[string]string{"Authorization": "Bearer " + testToken}
	cases := []struct {
		name, method, target string
		hdr                  map[string]string
		want                 int
	}{
		{"no token", "GET", "/api/state", nil, 401},
		{"page without token", "GET", "/", nil, 401},
		{"wrong bearer", "GET", "/api/state", map[string]string{"Authorization": "Bearer nope"}, 403},
		{"wrong cookie", "GET", "/api/state", map[string]string{"Cookie": "chatsafe_ui_8385=nope"}, 403},
		{"wrong URL token", "GET", "/?token=nope", nil, 403},
		{"bearer", "GET", "/api/state", bearer, 200},
		{"cookie", "GET", "/", map[string]string{"Cookie": "chatsafe_ui_8385=" + testToken}, 200},
		{"another port's cookie", "GET", "/api/state", map[string]string{"Cookie": "chatsafe_ui_9999=" + testToken}, 401},
		{"DNS rebinding", "GET", "/api/state", map[string]string{"Authorization": "Bearer " + testToken, "Host": "evil.example:8385"}, 403},
		{"action without header", "POST", "/api/backup", bearer, 403},
		{"action cross-origin", "POST", "/api/backup", map[string]string{"Authorization": "Bearer " + testToken, ActionHeader: "1", "Origin": "http://evil.example"}, 403},
		{"action without token", "POST", "/api/pause", map[string]string{ActionHeader: "1"}, 401},
		{"action GET", "GET", "/api/backup", bearer, 405},
		{"static needs nothing", "GET", "/static/app.js", nil, 200},
	}
	for _, c := range cases {
		w := do(t, h, c.method, c.target, c.hdr)
		if w.Code != c.want {
			t.Errorf("%s: %s %s = %d, want %d (%s)", c.name, c.method, c.target, w.Code, c.want, strings.TrimSpace(w.Body.String()))
		}
	}
	if b.backups != 0 || b.paused {
		t.Fatalf("a refused action ran: backups=%d paused=%v", b.backups, b.paused)
	}
	ok := map[string]string{"Authorization": "Bearer " + testToken, ActionHeader: "1", "Origin": "http://127.0.0.1:8385"}
	if w := do(t, h, "POST", "/api/backup", ok); w.Code != 200 || b.backups != 1 {
		t.Fatalf("backup: %d %s", w.Code, w.Body)
	}
	if w := do(t, h, "POST", "/api/pause", ok); w.Code != 200 || !b.paused {
		t.Fatalf("pause: %d %s", w.Code, w.Body)
	}
	if w := do(t, h, "POST", "/api/resume", ok); w.Code != 200 || b.paused {
		t.Fatalf("resume: %d %s", w.Code, w.Body)
	}
}

func TestTokenInURLBecomesCookie(t *testing.T) {
	h := NewHandler(&fakeBackend{}, testToken, "8385", nil)
	w := do(t, h, "GET", "/?token="+testToken, nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
		t.Fatalf("got %d to %q", w.Code, w.Header().Get("Location"))
	}
	c := w.Result().Cookies()
	if len(c) != 1 || c[0].Value != testToken || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie: %+v", c)
	}
	w = do(t, h, "GET", "/api/state", map[string]string{"Cookie": c[0].Name + "=" + c[0].Value})
	body, _ := io.ReadAll(w.Body)
	if w.Code != 200 || !strings.Contains(string(body), `"short_id":"abcd1234"`) {
		t.Fatalf("state: %d %s", w.Code, body)
	}
	// Newest first.
	if strings.Index(string(body), `"short_id":"00000001"`) < strings.LastIndex(string(body), `"short_id":"abcd1234"`) {
		t.Errorf("snapshots not newest first: %s", body)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
}

func TestToken(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadToken(dir); err == nil {
		t.Fatal("ReadToken found a token in an empty directory")
	}
	a, err := LoadOrCreateToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateToken(dir)
	if err != nil || a != b || len(a) != 64 {
		t.Fatalf("token not kept: %q %q %v", a, b, err)
	}
	fi, err := os.Stat(filepath.Join(dir, TokenFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
}
