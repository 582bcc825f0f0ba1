package server

import (
	"context"
	"crypto/hpke"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/vault"
)

// ServerConfig configures a vault server. Zero values take the defaults.
type ServerConfig struct {
	Listen  string // host:port; port 0 picks a free one (see Server.Addr)
	DataDir string // database, master key file, generated TLS certificate
	// TLSCert and TLSKey are PEM files. Without them the server makes a
	// self-signed certificate for the listen host on first start and keeps
	// it in DataDir/tls/cert.pem; clients pin that file.
	TLSCert, TLSKey string
	MaxAttempts     int         // wrong passwords before the key is erased; default 10
	Log             *zap.Logger // audit and operations log; default: no logging

	// MasterKey seals secrets at rest; default: DataDir/master.key.
	MasterKey MasterKey

	// Rate limits (token buckets). Rates are per second; 0 takes the
	// default, a negative rate disables that limit.
	AddressRate  float64 // per client address (IPv6: per /64); default 5
	AddressBurst int     // default 20
	AccountRate  float64 // per account name, for logins, registrations and deletions; default 0.1
	AccountBurst int     // default 10
	// HeadRate limits head reads and advances per account and owner
	// proof (the owner token's hash): a daemon advances the head once per
	// committed delta, and a wrong token drains only its own bucket.
	HeadRate  float64 // default 1
	HeadBurst int     // default 60

	SessionTTL  time.Duration
	MaxSessions int // pending logins and registrations; default 10000
	// MaxSessionsPerPrefix bounds the pending sessions of one client
	// network (an IPv4 address, an IPv6 /48); default 100, negative: none.
	MaxSessionsPerPrefix int
	MaxRateEntries       int // keys each limit tracks at once (addresses, accounts, account and owner); default 100000
	// GhostTTL is how long the attempt counter of a name nobody registered
	// is kept after its last attempt; default 30 days.
	GhostTTL time.Duration
	// FailureDelay is what the first wrong password after the free ones
	// (FreeFailures) costs; each further one doubles it. Default 1s; a
	// negative value disables the delays.
	FailureDelay time.Duration

	// Cluster makes this node one replica of a Raft cluster; nil (the
	// default) runs a single node with its embedded store.
	Cluster *ClusterConfig

	// now is the clock of the rate limits and sessions; default time.Now
	// (tests set their own).
	now func() time.Time
	// wrap, when set, wraps the HTTPS handler (tests inject faults).
	wrap func(http.Handler) http.Handler
}

// Defaults.
const (
	DefaultMaxAttempts = 10
	defaultSessionTTL  = 30 * time.Second
	defaultMaxSessions = 10000
)

func (c *ServerConfig) setDefaults() {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.AddressRate == 0 {
		c.AddressRate = 5
	}
	if c.AddressBurst == 0 {
		c.AddressBurst = 20
	}
	if c.AccountRate == 0 {
		c.AccountRate = 0.1
	}
	if c.AccountBurst == 0 {
		c.AccountBurst = 10
	}
	if c.HeadRate == 0 {
		c.HeadRate = 1
	}
	if c.HeadBurst == 0 {
		c.HeadBurst = 60
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = defaultSessionTTL
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = defaultMaxSessions
	}
	if c.MaxSessionsPerPrefix == 0 {
		c.MaxSessionsPerPrefix = 100
	}
	if c.MaxRateEntries == 0 {
		c.MaxRateEntries = 100000
	}
	if c.GhostTTL <= 0 {
		c.GhostTTL = 30 * 24 * time.Hour
	}
	if c.FailureDelay == 0 {
		c.FailureDelay = time.Second
	}
	if c.now == nil {
		c.now = time.Now
	}
}

// Server is a single-node Backup Key Vault over HTTPS.
type Server struct {
	cfg   ServerConfig
	log   *zap.Logger
	mk    MasterKey
	store stateMachine
	node  *raftNode // nil on a single node
	eng   atomic.Pointer[engine]
	ready chan struct{} // closed once eng is set

	// setupErr is why a cluster node cannot set up, when a client should
	// hear it rather than "no quorum" (its master key does not open the
	// cluster's secrets).
	setupErr atomic.Pointer[string]
	ln       net.Listener
	tlsCfg   *tls.Config

	logins *sessionTable[loginSession]
	begins *sessionTable[beginSession] // login/begin → login/ke1
	// shareKey opens the threshold OPRF shares sealed to this node.
	shareKey hpke.PrivateKey
	// dummyShare is a share sealed to this node that a ghost's evaluation
	// opens, so that it costs what a real account's does.
	dummyShare vault.SealedShare
	regs       *sessionTable[regSession]
	byAddr     *limiterSet[netip.Prefix]
	byAcct     *limiterSet[[32]byte]
	byHead     *limiterSet[headKey]
	serveMu    sync.Mutex
	served     bool
	now        func() time.Time
}

type loginSession struct {
	account    string
	id         [32]byte
	generation uint64
	attempts   int
	ghost      bool
	clientMAC  []byte
}

type regSession struct {
	account string
	id      [32]byte
	oprfKey []byte
}

// NewServer opens the data directory (creating the master key, database and
// TLS certificate on first start), erases records whose attempts were spent
// before a crash, and binds the listen address.
func NewServer(cfg ServerConfig) (*Server, error) {
	cfg.setDefaults()
	if cfg.DataDir == "" {
		return nil, errors.New("vault: no data directory given (--data DIR)")
	}
	if cfg.Listen == "" {
		return nil, errors.New("vault: no listen address given (--listen HOST:PORT)")
	}
	if cfg.MaxAttempts < 1 {
		return nil, fmt.Errorf("vault: max attempts must be at least 1, got %d", cfg.MaxAttempts)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("vault: give both --tls-cert and --tls-key, or neither for a self-signed certificate")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: creating data directory: %w", err)
	}
	s := &Server{
		cfg:    cfg,
		log:    cfg.Log,
		mk:     cfg.MasterKey,
		logins: newSessionTable[loginSession](cfg.SessionTTL, cfg.MaxSessions, cfg.MaxSessionsPerPrefix),
		begins: newSessionTable[beginSession](cfg.SessionTTL, cfg.MaxSessions, cfg.MaxSessionsPerPrefix),
		regs:   newSessionTable[regSession](cfg.SessionTTL, cfg.MaxSessions, cfg.MaxSessionsPerPrefix),
		byAddr: newLimiterSet[netip.Prefix](cfg.AddressRate, cfg.AddressBurst, cfg.MaxRateEntries),
		byAcct: newLimiterSet[[32]byte](cfg.AccountRate, cfg.AccountBurst, cfg.MaxRateEntries),
		byHead: newLimiterSet[headKey](cfg.HeadRate, cfg.HeadBurst, cfg.MaxRateEntries),
		now:    cfg.now,
		ready:  make(chan struct{}),
	}
	if s.mk == nil {
		// A cluster node's key must be the cluster's: it is never made here.
		var missing error // a single node makes its key
		if cfg.Cluster != nil {
			missing = clusterKeyMissing(cfg)
		}
		mk, err := openFileMasterKey(filepath.Join(cfg.DataDir, MasterKeyFileName), missing)
		if err != nil {
			return nil, err
		}
		s.mk = mk
	}
	// A cluster node makes its share key in initState, once its master
	// key has opened the cluster's secrets: one sealed by a wrong master
	// key would keep the node from starting after the right one is copied.
	sk, err := loadOrCreateShareKey(cfg.DataDir, shareKeyNode(cfg), s.mk, cfg.Cluster == nil)
	if err != nil {
		return nil, err
	}
	s.shareKey = sk
	cert, err := loadOrCreateCert(cfg)
	if err != nil {
		return nil, err
	}
	s.tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	st, err := OpenStore(cfg.DataDir, cfg.MaxAttempts)
	if err != nil {
		return nil, err
	}
	s.store = st
	if cfg.Cluster != nil {
		if s.node, err = startRaftNode(cfg, cert, st); err != nil {
			st.Close()
			return nil, err
		}
		s.store = s.node
	}
	fail := func(err error) (*Server, error) {
		s.store.Close()
		return nil, err
	}
	if s.node == nil {
		// A single node is its own quorum: set up now. A cluster node does
		// it in Serve, once a leader can commit.
		if err := s.initState(context.Background()); err != nil {
			return fail(err)
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fail(fmt.Errorf("vault: listening on %s: %w", cfg.Listen, err))
	}
	s.ln = ln
	return s, nil
}

// shareKeyNode names the node in its share key's sealing.
func shareKeyNode(cfg ServerConfig) string {
	if cfg.Cluster != nil {
		return cfg.Cluster.NodeID
	}
	return singleNodeName
}

// initState unseals (creating on first start) the server secrets and erases
// records whose last allowed attempt was spent in a session this node held
// before it stopped: no session survives a restart.
func (s *Server) initState(ctx context.Context) error {
	eng, err := newEngine(ctx, s.store, s.mk)
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	if err := eng.sealDummy(s.mk); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	if s.shareKey == nil {
		if s.shareKey, err = loadOrCreateShareKey(s.cfg.DataDir, shareKeyNode(s.cfg), s.mk, true); err != nil {
			return err
		}
	}
	if err := s.publishShareKey(ctx); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	sweep := Command{Op: OpSweep}
	if s.node != nil {
		sweep.Node = s.node.id
	}
	res, err := s.store.Apply(ctx, sweep)
	if err != nil {
		return fmt.Errorf("vault: erasing records at the attempt limit: %w", err)
	}
	if res.Erased > 0 {
		s.log.Info("vault audit: erased records whose attempts were spent before the restart", zap.String("event", "erase"), zap.Int("count", res.Erased))
	}
	s.eng.Store(eng)
	if s.node != nil {
		f := s.evalCommitted
		s.node.evalFn.Store(&f)
		r := s.shareReport
		s.node.reportFn.Store(&r)
	}
	close(s.ready)
	return nil
}

// engine returns the OPAQUE engine, or answers 503 while a cluster node
// has not yet been able to set up (no quorum since it started).
func (s *Server) engine(w http.ResponseWriter) *engine {
	if e := s.eng.Load(); e != nil {
		return e
	}
	if why := s.setupErr.Load(); why != nil {
		writeError(w, http.StatusServiceUnavailable, vault.CodeNoQuorum, *why, nil)
		return nil
	}
	writeError(w, http.StatusServiceUnavailable, vault.CodeNoQuorum, errNoQuorum.Error(), nil)
	return nil
}

// Addr is the bound listen address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve answers requests until ctx is done, then shuts down gracefully:
// in-flight requests finish, pending sessions end as failed attempts, and
// the database is closed. It may be called once.
func (s *Server) Serve(ctx context.Context) error {
	s.serveMu.Lock()
	if s.served {
		s.serveMu.Unlock()
		return errors.New("vault: Serve called twice")
	}
	s.served = true
	s.serveMu.Unlock()

	h := s.handler()
	if s.cfg.wrap != nil {
		h = s.cfg.wrap(h)
	}
	hs := &http.Server{
		Handler:           h,
		TLSConfig:         s.tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.log.Info("vault serving", zap.String("addr", s.ln.Addr().String()), zap.Int("max_attempts", s.cfg.MaxAttempts))

	janitorDone := make(chan struct{})
	janitorCtx, stopJanitor := context.WithCancel(ctx)
	go func() {
		defer close(janitorDone)
		s.janitor(janitorCtx)
	}()

	initDone := make(chan struct{})
	go func() {
		defer close(initDone)
		if s.node != nil {
			s.initCluster(janitorCtx)
		}
	}()

	errc := make(chan error, 1)
	go func() { errc <- hs.ServeTLS(s.ln, "", "") }()

	var serveErr error
	select {
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := hs.Shutdown(shutCtx); err != nil {
			hs.Close()
		}
		cancel()
		<-errc
	case serveErr = <-errc:
	}
	stopJanitor()
	<-janitorDone
	<-initDone
	for _, ls := range s.logins.drain() {
		s.endFailed(context.Background(), ls)
	}
	for _, bs := range s.begins.drain() {
		s.endFailed(context.Background(), bs.ls)
	}
	s.regs.drain()
	if err := s.store.Close(); err != nil && serveErr == nil {
		serveErr = fmt.Errorf("vault: closing database: %w", err)
	}
	s.log.Info("vault stopped")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("vault: serving: %w", serveErr)
	}
	return nil
}

// janitor expires sessions and prunes rate-limit buckets.
func (s *Server) janitor(ctx context.Context) {
	period := s.cfg.SessionTTL / 4
	period = max(period, 100*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	ghosts := time.NewTicker(ghostSweepEvery)
	defer ghosts.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.expire(ctx, s.now())
		case <-ghosts.C:
			s.expireGhosts(ctx, s.now())
		}
	}
}

// ghostSweepEvery is how often the janitor deletes ghost rows unseen for
// GhostTTL.
const ghostSweepEvery = time.Hour

// expireGhosts deletes the rows of names nobody registered (and of logins
// without an account's handle) that nobody tried for GhostTTL. In a
// cluster only the leader proposes it; the command carries its clock.
func (s *Server) expireGhosts(ctx context.Context, now time.Time) {
	if s.eng.Load() == nil || !s.Leader() {
		return
	}
	res, err := s.store.Apply(ctx, Command{Op: OpExpire, Now: now.UnixMilli(), TTL: s.cfg.GhostTTL.Milliseconds()})
	if err != nil {
		s.log.Warn("vault: expiring the rows of unknown names failed; retrying in an hour", zap.Error(err))
		return
	}
	if res.Erased > 0 {
		s.log.Info("vault: expired the rows of names nobody registered", zap.String("event", "expire_ghosts"), zap.Int("count", res.Erased))
	}
}

// expire ends the sessions expired at now and drops idle rate buckets.
func (s *Server) expire(ctx context.Context, now time.Time) {
	for _, ls := range s.logins.expire(now) {
		s.endFailed(ctx, ls)
	}
	for _, bs := range s.begins.expire(now) {
		s.endFailed(ctx, bs.ls)
	}
	for _, rs := range s.regs.expire(now) {
		clear(rs.oprfKey)
	}
	s.byAddr.prune(now)
	s.byAcct.prune(now)
	s.byHead.prune(now)
}

// endFailed closes a login session that will never succeed. Only a session
// that spent the last allowed attempt changes state: its record is erased.
func (s *Server) endFailed(ctx context.Context, ls loginSession) {
	if ls.attempts < s.cfg.MaxAttempts {
		return
	}
	res, err := s.store.Apply(context.WithoutCancel(ctx), Command{Op: OpFail, Account: ls.id, Generation: ls.generation})
	if err != nil {
		s.log.Error("vault: erasing a record at the attempt limit failed; it is erased at the next attempt or restart", zap.Error(err))
		return
	}
	if res.Status == StatusErased {
		s.log.Info("vault audit: record erased after the last allowed wrong password", zap.String("event", "erase"), zap.String("account", ls.account), zap.Bool("known", !ls.ghost))
	}
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+vault.PathRegisterStart, s.handleRegisterStart)
	mux.HandleFunc("POST "+vault.PathRegisterFinish, s.handleRegisterFinish)
	mux.HandleFunc("POST "+vault.PathLoginStart, s.handleLoginStart)
	mux.HandleFunc("POST "+vault.PathLoginBegin, s.handleLoginBegin)
	mux.HandleFunc("POST "+vault.PathLoginEval, s.handleLoginEval)
	mux.HandleFunc("POST "+vault.PathLoginKE1, s.handleLoginKE1)
	mux.HandleFunc("POST "+vault.PathLoginFinish, s.handleLoginFinish)
	mux.HandleFunc("POST "+vault.PathLoginAbort, s.handleLoginAbort)
	mux.HandleFunc("POST "+vault.PathDelete, s.handleDelete)
	mux.HandleFunc("POST "+vault.PathHead, s.handleHead)
	return s.limitByAddress(mux)
}

// clientPrefix is the rate-limit key of a remote address: the IPv4 address,
// or the /64 of an IPv6 address (one host usually owns a whole /64).
func clientPrefix(remote string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

func (s *Server) limitByAddress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.byAddr.allow(s.now(), clientPrefix(r.RemoteAddr)) {
			s.log.Info("vault audit: rate limited", zap.String("event", "rate_limited"), zap.String("by", "address"), zap.String("remote", r.RemoteAddr))
			writeError(w, http.StatusTooManyRequests, vault.CodeRateLimited, "too many requests from this address; try again later", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// readRequest reads and strictly decodes a bounded request body.
func readRequest(w http.ResponseWriter, r *http.Request, v vault.Validator) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, vault.MaxBodyBytes))
	if err == nil {
		err = vault.DecodeRequest(body, v)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, vault.CodeBadRequest, err.Error(), nil)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string, left *int) {
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "10")
	}
	writeJSON(w, status, vault.ErrorResp{Error: code, Message: msg, AttemptsLeft: left})
}

func (s *Server) internalError(w http.ResponseWriter, what string, err error) {
	s.log.Error("vault: "+what, zap.Error(err))
	writeError(w, http.StatusInternalServerError, vault.CodeInternal, "vault internal error; try again or another vault node", nil)
}

// stateError answers a failed state change: 503 when the cluster has no
// quorum (nothing was counted loosely; the client tries another node or
// later), 500 otherwise.
func (s *Server) stateError(w http.ResponseWriter, what string, err error) {
	if errors.Is(err, errNoQuorum) {
		s.log.Warn("vault: refused, no quorum", zap.String("doing", what), zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, vault.CodeNoQuorum, errNoQuorum.Error(), nil)
		return
	}
	s.internalError(w, what, err)
}

func (s *Server) nodeID() string {
	if s.node == nil {
		return ""
	}
	return s.node.id
}

// accountLimited applies the per-account limit of logins, registrations
// and deletions (the requests that bound guessing; not head requests).
func (s *Server) accountLimited(w http.ResponseWriter, r *http.Request, account string, id [32]byte) bool {
	if s.byAcct.allow(s.now(), id) {
		return false
	}
	s.rateLimited(w, r, "account", account, "too many requests for this account; try again later")
	return true
}

func (s *Server) rateLimited(w http.ResponseWriter, r *http.Request, by, account, msg string) {
	s.log.Info("vault audit: rate limited", zap.String("event", "rate_limited"), zap.String("by", by), zap.String("account", account), zap.String("remote", r.RemoteAddr))
	writeError(w, http.StatusTooManyRequests, vault.CodeRateLimited, msg, nil)
}
