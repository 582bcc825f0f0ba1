package client

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/vault"
)

// A certificate the client refuses on every node is ErrCertificate (and,
// for the login's bookkeeping, ErrUnreachable: nothing was sent) with
// what to change; a node that is down besides leaves it ErrUnreachable
// only, since that node may come back.
func TestCertificateRefused(t *testing.T) {
	srv, ca := tlsVault(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("a request passed a certificate the client refuses")
	}))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))
	var key crypt.Key
	for _, c := range []struct {
		name, url, ca, hint string
		cert                bool
	}{
		{"no --vault-ca", srv.URL, "", "pass --vault-ca FILE", true},
		{"a host the certificate is not for", "https://localhost:" + port, ca, "is for example.com, *.example.com, 127.0.0.1, ::1, not localhost", true},
		{"and a node down", "https://localhost:" + port + ",https://127.0.0.1:1", ca, "is for example.com", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, err := New(Options{URLs: strings.Split(c.url, ","), CAFile: c.ca})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.CloseIdleConnections()
			err = cl.Delete(context.Background(), "ann", key)
			if errors.Is(err, vault.ErrCertificate) != c.cert || !errors.Is(err, vault.ErrUnreachable) || !strings.Contains(err.Error(), c.hint) {
				t.Fatalf("%v: want ErrCertificate %v, ErrUnreachable, and %q", err, c.cert, c.hint)
			}
		})
	}
}

// An expired certificate names its validity and this machine's clock.
func TestExpiredCertificateHint(t *testing.T) {
	cert := &x509.Certificate{NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)}
	hint, ok := certificateHint(x509.CertificateInvalidError{Cert: cert, Reason: x509.Expired}, "https://vault.example.org:8443", "ca.pem")
	if !ok || !strings.Contains(hint, "2021-01-01T00:00:00Z") || !strings.Contains(hint, "renew") {
		t.Fatalf("hint %q (%v)", hint, ok)
	}
	if _, ok := certificateHint(errors.New("connection refused"), "https://vault.example.org:8443", ""); ok {
		t.Fatal("a refused connection taken for a certificate")
	}
}
