package vaulttest

import (
	"path/filepath"
	"testing"

	vaultserver "github.com/chatsafe/chatsafe/vault/server"
)

// Start runs a real single-node vault server over HTTPS on loopback until
// the test ends, with no rate limits or failure delays (tests make many
// logins quickly), and returns its URL and the certificate to pin.
func Start(t *testing.T) (url, ca string) {
	t.Helper()
	dir := t.TempDir()
	srv, err := vaultserver.NewServer(vaultserver.ServerConfig{Listen: "127.0.0.1:0", DataDir: dir, AccountRate: -1, AddressRate: -1, FailureDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(t.Context()) }()
	t.Cleanup(func() { <-done })
	return "https://" + srv.Addr().String(), filepath.Join(dir, vaultserver.TLSCertFile)
}
