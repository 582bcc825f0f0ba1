// Package vaulttest holds the vault fixtures that tests of several
// packages share.
package vaulttest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chatsafe/chatsafe/vault"
)

// FailingAfterLogin fronts a real vault: it passes on the first message of
// a login (login/begin, or login/start of the legacy login), which counts
// a password attempt, and answers every later one 502, as a node that
// fails in the middle of a login does. It returns its URL and CA file.
func FailingAfterLogin(t *testing.T, vaultURL, vaultCA string) (string, string) {
	t.Helper()
	up := upstream(t, vaultCA)
	return proxy(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != vault.PathLoginBegin && r.URL.Path != vault.PathLoginStart {
			http.Error(w, "the node fails", http.StatusBadGateway)
			return
		}
		resp, err := forward(r, up, vaultURL)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		relay(w, resp)
	})
}

// Losses arms a LosingAnswers proxy.
type Losses struct {
	mu    sync.Mutex
	paths []string // the paths whose answers are lost; none: disarmed
	lost  atomic.Int32
}

// Arm makes the proxy lose the answers to the first message of a login,
// login/begin and login/start (true), or pass every answer on (false).
func (l *Losses) Arm(on bool) {
	if on {
		l.ArmFor(vault.PathLoginBegin, vault.PathLoginStart)
	} else {
		l.ArmFor()
	}
}

// ArmFor makes the proxy lose the answers to paths (none: pass every
// answer on), e.g. vault.PathLoginKE1: a message after the vault counted
// the login's attempt.
func (l *Losses) ArmFor(paths ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.paths = slices.Clone(paths)
}

func (l *Losses) loses(path string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.paths, path)
}

// Lost is how many answers the proxy lost.
func (l *Losses) Lost() int { return int(l.lost.Load()) }

// LosingAnswers fronts a real vault and passes every request on. While
// armed it loses the answers to the armed paths: the vault takes the
// request (a login/begin counts the attempt), the proxy reads the whole
// answer and then resets the stream, as a connection that breaks or a
// client that times out after the vault did its work. It returns its URL
// and CA file.
func LosingAnswers(t *testing.T, vaultURL, vaultCA string) (string, string, *Losses) {
	t.Helper()
	l := &Losses{}
	up := upstream(t, vaultCA)
	url, ca := proxy(t, func(w http.ResponseWriter, r *http.Request) {
		resp, err := forward(r, up, vaultURL)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		if l.loses(r.URL.Path) {
			io.Copy(io.Discard, resp.Body)
			l.lost.Add(1)
			panic(http.ErrAbortHandler) // no answer arrives
		}
		relay(w, resp)
	})
	return url, ca, l
}

// relay passes the vault's answer on as it came.
func relay(w http.ResponseWriter, resp *http.Response) {
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func upstream(t *testing.T, vaultCA string) *http.Client {
	t.Helper()
	caPEM, err := os.ReadFile(vaultCA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	up := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(up.CloseIdleConnections)
	return up
}

func forward(r *http.Request, up *http.Client, vaultURL string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, vaultURL+r.URL.Path, r.Body)
	if err != nil {
		return nil, err
	}
	req.Header = r.Header.Clone()
	return up.Do(req)
}

// proxy serves h over TLS and returns its URL and a CA file for it.
func proxy(t *testing.T, h http.HandlerFunc) (string, string) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "proxy-ca.pem")
	if err := os.WriteFile(ca, encodePEM(srv.Certificate().Raw), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL, ca
}

func encodePEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
