package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"
)

// Nodes talk to each other over one TLS port with mutual authentication:
// raft's own protocol and the vault's internal RPC (forwarding state
// changes to the leader, membership changes) share it. The first byte a
// dialer sends after the handshake says which of the two it speaks.
const (
	muxRaft byte = 'r'
	muxRPC  byte = 'c'
)

// peerTLS builds the node-to-node TLS configurations. Every node presents
// its certificate (the one it serves clients with) and accepts a peer only
// if the peer's certificate chains to one in caFile (the cluster CA, or the
// nodes' own self-signed certificates concatenated) with the extended key
// usage of its side: clientAuth for the dialer, serverAuth for the
// listener. Host names are not checked: membership is what caFile and the
// pins say, not what DNS says.
//
// The check runs in VerifyConnection, which Go calls on every connection,
// resumed or not (VerifyPeerCertificate is skipped on resumption, so a
// certificate removed from caFile would get back in with an old session
// ticket). Session tickets are off as well: a handshake between nodes is
// rare, and nothing is then cached past a change of caFile.
func peerTLS(cert tls.Certificate, caFile string) (server, client *tls.Config, err error) {
	cas := &caPool{path: caFile}
	if _, err := cas.get(); err != nil {
		return nil, nil, err
	}
	verify := func(usage x509.ExtKeyUsage) func(tls.ConnectionState) error {
		return func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("vault peer presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			pool, err := cas.get()
			if err != nil {
				return err
			}
			_, err = cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
			if err != nil {
				return fmt.Errorf("vault peer certificate is not trusted by the cluster CA file for %s: %w", usageName(usage), err)
			}
			return nil
		}
	}
	server = &tls.Config{
		Certificates:           []tls.Certificate{cert},
		ClientAuth:             tls.RequireAnyClientCert,
		VerifyConnection:       verify(x509.ExtKeyUsageClientAuth),
		SessionTicketsDisabled: true,
		MinVersion:             tls.VersionTLS13,
	}
	client = &tls.Config{
		Certificates: []tls.Certificate{cert},
		// The standard check wants a host name; VerifyConnection checks
		// the chain against the cluster CA file instead. No
		// ClientSessionCache: every connection is a full handshake.
		InsecureSkipVerify: true,
		VerifyConnection:   verify(x509.ExtKeyUsageServerAuth),
		MinVersion:         tls.VersionTLS13,
	}
	return server, client, nil
}

func usageName(u x509.ExtKeyUsage) string {
	if u == x509.ExtKeyUsageClientAuth {
		return "client authentication (a node certificate needs the clientAuth and serverAuth extended key usages)"
	}
	return "server authentication (a node certificate needs the clientAuth and serverAuth extended key usages)"
}

// caPool is the cluster CA file, read again when it changes, so that a
// new node's certificate can be added to every node's file without a
// restart.
type caPool struct {
	path string
	mu   sync.Mutex
	mod  time.Time
	size int64
	pool *x509.CertPool
}

func (c *caPool) get() (*x509.CertPool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := os.Stat(c.path)
	if err == nil && c.pool != nil && st.ModTime().Equal(c.mod) && st.Size() == c.size {
		return c.pool, nil
	}
	var pemBytes []byte
	if err == nil {
		pemBytes, err = os.ReadFile(c.path)
	}
	if err != nil {
		if c.pool != nil {
			return c.pool, nil // keep the last good one
		}
		return nil, fmt.Errorf("vault cluster: reading the peer CA file (--cluster-ca): %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		if c.pool != nil {
			return c.pool, nil
		}
		return nil, fmt.Errorf("vault cluster: %s holds no PEM certificate; give the cluster CA, or every node's tls/cert.pem concatenated", c.path)
	}
	c.pool, c.mod, c.size = pool, st.ModTime(), st.Size()
	return pool, nil
}

// streamLayer is raft's transport over TLS, sharing the port with the
// internal RPC server.
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr
	client    *tls.Config
	rpc       *rpc.Server
	log       *zap.Logger
	pins      *peerPins
	dial      dialFunc

	raftConns chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	mu        sync.Mutex
	conns     map[net.Conn]struct{}
	// raftServing counts the connections handed to raft that its handler
	// has not closed yet: raft closes one when its handler returns, and a
	// handler may still be applying a command (a heartbeat writes the
	// current term to the stable store) after the socket is gone. Close
	// waits for them, so that the stores close after the last one.
	raftServing sync.WaitGroup
}

// raftHandlerWait bounds how long Close waits for raft's handlers.
const raftHandlerWait = 10 * time.Second

// raftConn is a connection handed to raft; its Close is the handler's end.
type raftConn struct {
	net.Conn
	s    *streamLayer
	once sync.Once
}

func (c *raftConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.s.untrack(c.Conn)
		c.s.raftServing.Done()
	})
	return err
}

func newStreamLayer(ln net.Listener, advertise net.Addr, server, client *tls.Config, rs *rpc.Server, pins *peerPins, log *zap.Logger) *streamLayer {
	s := &streamLayer{
		ln:        tls.NewListener(ln, server),
		advertise: advertise,
		client:    client,
		rpc:       rs,
		pins:      pins,
		log:       log,
		raftConns: make(chan net.Conn),
		done:      make(chan struct{}),
		conns:     make(map[net.Conn]struct{}),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s
}

func (s *streamLayer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.log.Error("vault cluster: accepting peer connections failed", zap.Error(err))
			return
		}
		if !s.track(c) {
			c.Close()
			return
		}
		s.wg.Add(1)
		go s.dispatch(c)
	}
}

// track registers an accepted connection so Close can end it.
func (s *streamLayer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return false
	default:
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *streamLayer) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// dispatch authenticates a connection (the TLS handshake, then the node id
// the peer claims against the pins), reads its kind and hands it to raft
// or to the RPC server.
func (s *streamLayer) dispatch(c net.Conn) {
	defer s.wg.Done()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	kind, err := s.accept(c)
	if err != nil {
		s.log.Warn("vault cluster: refused a peer connection", zap.String("remote", c.RemoteAddr().String()), zap.Error(err))
		s.untrack(c)
		c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	switch kind {
	case muxRaft:
		s.raftServing.Add(1)
		select {
		case s.raftConns <- &raftConn{Conn: c, s: s}:
		case <-s.done:
			s.raftServing.Done()
			s.untrack(c)
			c.Close()
		}
	case muxRPC:
		s.rpc.ServeConn(c)
		s.untrack(c)
	default:
		s.untrack(c)
		c.Close()
	}
}

// accept reads the preamble (kind, then the length-prefixed node id the
// peer speaks as) and checks the id against the key of the TLS session.
func (s *streamLayer) accept(c net.Conn) (byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return 0, err
	}
	id := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, id); err != nil {
		return 0, err
	}
	tc, ok := c.(*tls.Conn)
	if !ok {
		return 0, errors.New("not a TLS connection")
	}
	peer := tc.ConnectionState().PeerCertificates
	if len(peer) == 0 {
		return 0, errors.New("no peer certificate")
	}
	if s.pins != nil {
		if err := s.pins.check(string(id), spkiHash(peer[0])); err != nil {
			return 0, err
		}
	}
	return hdr[0], nil
}

// Accept hands raft its next incoming connection.
func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.raftConns:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting, ends every accepted connection and waits for the
// goroutines that served them, raft's handlers included.
func (s *streamLayer) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		close(s.done)
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.ln.Close()
		s.wg.Wait()
		s.waitRaftHandlers()
	})
	return nil
}

// waitRaftHandlers waits, at most raftHandlerWait, until raft has closed
// every connection it was handed: its handlers have returned.
func (s *streamLayer) waitRaftHandlers() {
	served := make(chan struct{})
	// Ends with raft's last handler; after a timeout that is later.
	go func() {
		s.raftServing.Wait()
		close(served)
	}()
	select {
	case <-served:
	case <-time.After(raftHandlerWait):
		s.log.Warn("vault cluster: raft still serves a peer connection after the network closed", zap.Duration("waited", raftHandlerWait))
	}
}

func (s *streamLayer) Addr() net.Addr { return s.advertise }

// Dial opens a raft connection to a peer.
func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return dialPeer(ctx, string(addr), s.client, muxRaft, s.pins, s.dial)
}

// dialPeer opens an authenticated connection of the given kind to a node.
// With pins (a node dialing a node) it speaks as this node's id and checks
// that the peer's key is the one pinned to the member at addr; without (an
// administrator), it speaks as nobody and the listener checks its key.
// dial opens the TCP connection (nil: net.Dialer; tests cut a node off
// the others through it).
func dialPeer(ctx context.Context, addr string, cfg *tls.Config, kind byte, pins *peerPins, dial dialFunc) (net.Conn, error) {
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("vault cluster: connecting to %s: %w", addr, err)
	}
	if cfg.ServerName == "" {
		// As tls.Dialer does: the host dialed, for SNI and the check of
		// an administrator's connection.
		cfg = cfg.Clone()
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("vault cluster: connecting to %s: %w", addr, err)
	}
	self := ""
	if pins != nil {
		peer := c.ConnectionState().PeerCertificates
		if err := pins.check(pins.idAt(addr), spkiHash(peer[0])); err != nil {
			c.Close()
			return nil, fmt.Errorf("vault cluster: connecting to %s: %w", addr, err)
		}
		self = pins.self
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetWriteDeadline(dl)
	}
	if _, err := c.Write(append([]byte{kind, byte(len(self))}, self...)); err != nil {
		c.Close()
		return nil, fmt.Errorf("vault cluster: connecting to %s: %w", addr, err)
	}
	_ = c.SetWriteDeadline(time.Time{})
	return c, nil
}

// dialFunc opens a TCP connection, as net.Dialer.DialContext does.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// addr is a net.Addr for an advertised host:port.
type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }
