package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatsafe/chatsafe/vault"
	"github.com/chatsafe/chatsafe/vault/client"
)

// testKSF keeps Argon2id real but cheap so the suite stays fast; one test
// runs the production parameters.
var testKSF = []uint64{1, 1024, 1}

type testVault struct {
	srv   *Server
	dir   string
	url   string
	logs  *observer.ObservedLogs
	stop  func()
	errc  chan error
	ccfg  client.Options
	ksf   []uint64
	tb    testing.TB
	cfg   ServerConfig
	alive bool
	conns []*client.Client
	hc    *http.Client
}

// startVault starts a real vault over HTTPS on loopback with a data
// directory dir. mod adjusts the configuration.
func startVault(tb testing.TB, dir string, mod func(*ServerConfig)) *testVault {
	tb.Helper()
	core, logs := observer.New(zap.DebugLevel)
	cfg := ServerConfig{
		Listen:       "127.0.0.1:0",
		DataDir:      dir,
		Log:          zap.New(core),
		AccountRate:  1000,
		AccountBurst: 1000,
		HeadRate:     1000,
		HeadBurst:    1000,
		AddressRate:  100000,
		AddressBurst: 100000,
		// The failure delays have their own test; elsewhere they would
		// only slow the attempt-counting tests down.
		FailureDelay: -1,
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		tb.Fatalf("NewServer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tv := &testVault{srv: srv, dir: dir, logs: logs, errc: make(chan error, 1), tb: tb, cfg: cfg, alive: true, ksf: testKSF}
	go func() { tv.errc <- srv.Serve(ctx) }()
	tv.stop = cancel
	tv.url = "https://" + srv.Addr().String()
	tv.ccfg = client.Options{URLs: []string{tv.url}, CAFile: filepath.Join(dir, TLSCertFile), Timeout: 20 * time.Second}
	tb.Cleanup(tv.Stop)
	return tv
}

// Stop shuts the vault down and waits for Serve to return.
func (tv *testVault) Stop() {
	if !tv.alive {
		return
	}
	tv.alive = false
	// Idle HTTP/2 connections would hold a graceful shutdown for a while.
	for _, c := range tv.conns {
		c.CloseIdleConnections()
	}
	if tv.hc != nil {
		tv.hc.CloseIdleConnections()
	}
	tv.stop()
	if err := <-tv.errc; err != nil {
		tv.tb.Errorf("Serve: %v", err)
	}
}

// restart stops the vault and starts a new one on the same data directory.
func (tv *testVault) restart(mod func(*ServerConfig)) *testVault {
	tv.Stop()
	return startVault(tv.tb, tv.dir, mod)
}

func (tv *testVault) client() *client.Client { return tv.clientOpts(func(*client.Options) {}) }

// legacyClient registers and logs in as before the threshold OPRF (the
// password goes to OPAQUE as is), for tests that speak OPAQUE raw.
func (tv *testVault) legacyClient() *client.Client {
	return tv.clientOpts(func(o *client.Options) { o.NoThresholdOPRF = true })
}

func (tv *testVault) clientOpts(mod func(*client.Options)) *client.Client {
	tv.tb.Helper()
	opts := tv.ccfg
	mod(&opts)
	opts.KSFParameters = tv.ksf
	c, err := client.New(opts)
	if err != nil {
		tv.tb.Fatalf("client.New: %v", err)
	}
	tv.conns = append(tv.conns, c)
	tv.tb.Cleanup(c.CloseIdleConnections)
	return c
}

func newKey(tb testing.TB) crypt.Key {
	k, err := crypt.NewKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func wrongLeft(tb testing.TB, err error) int {
	tb.Helper()
	var wp vault.WrongPasswordError
	if !errors.As(err, &wp) || !errors.Is(err, vault.ErrWrongPassword) {
		tb.Fatalf("want a vault.WrongPasswordError, got %v", err)
	}
	return wp.Left
}

type boltTx = bolt.Tx

func zapString(k, v string) zap.Field { return zap.String(k, v) }

// httpClient is a plain HTTPS client that pins the vault's certificate,
// for tests that speak the wire protocol the way an attacker's own client
// would.
func (tv *testVault) httpClient() *http.Client {
	tv.tb.Helper()
	if tv.hc != nil {
		return tv.hc
	}
	pem, err := os.ReadFile(tv.ccfg.CAFile)
	if err != nil {
		tv.tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tv.hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 20 * time.Second}
	tv.tb.Cleanup(tv.hc.CloseIdleConnections)
	return tv.hc
}

// testHandles keeps the handle of every account the tests register, the
// way the owner keeps it on the remote. Tests run one at a time; a name
// registered again gets its new handle.
var testHandles sync.Map // account → vault.Handle

// reg registers account through c and keeps its handle.
func reg(c *client.Client, ctx context.Context, account string, password []byte, key crypt.Key) error {
	h, err := c.Register(ctx, account, password, key)
	if err == nil {
		testHandles.Store(account, h)
	}
	return err
}

// handleOf is the handle reg kept for account (zero for an unknown name).
func handleOf(account string) vault.Handle {
	h, _ := testHandles.Load(account)
	hh, _ := h.(vault.Handle)
	return hh
}

// rec recovers account through c with the owner's handle.
func rec(c *client.Client, ctx context.Context, account string, password []byte) (crypt.Key, error) {
	return c.Recover(ctx, account, password, handleOf(account))
}

// handleBytes is account's handle as a wire field (nil for none).
func handleBytes(account string) []byte {
	h := handleOf(account)
	if h.IsZero() {
		return nil
	}
	return h[:]
}
