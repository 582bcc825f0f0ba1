package vault

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
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
	ccfg  ClientOptions
	ksf   []uint64
	tb    testing.TB
	cfg   ServerConfig
	alive bool
	conns []*Client
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
		AddressRate:  100000,
		AddressBurst: 100000,
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
	tv.ccfg = ClientOptions{URLs: []string{tv.url}, CAFile: filepath.Join(dir, TLSCertFile), Timeout: 20 * time.Second}
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

func (tv *testVault) client() *Client {
	tv.tb.Helper()
	c, err := NewClient(tv.ccfg)
	if err != nil {
		tv.tb.Fatalf("NewClient: %v", err)
	}
	c.ksfParams = tv.ksf
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
	var wp WrongPasswordError
	if !errors.As(err, &wp) || !errors.Is(err, ErrWrongPassword) {
		tb.Fatalf("want a WrongPasswordError, got %v", err)
	}
	return wp.Left
}

type boltTx = bolt.Tx

func zapString(k, v string) zap.Field { return zap.String(k, v) }
