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
	"testing"

	"github.com/chatsafe/chatsafe/vault"
)

// FailingAfterLogin fronts a real vault: it passes on the first message of
// a login (login/begin, or login/start of the legacy login), which counts
// a password attempt, and answers every later one 502, as a node that
// fails in the middle of a login does. It returns its URL and CA file.
func FailingAfterLogin(t *testing.T, vaultURL, vaultCA string) (string, string) {
	t.Helper()
	caPEM, err := os.ReadFile(vaultCA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	up := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(up.CloseIdleConnections)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != vault.PathLoginBegin && r.URL.Path != vault.PathLoginStart {
			http.Error(w, "the node fails", http.StatusBadGateway)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, vaultURL+r.URL.Path, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := up.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
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
