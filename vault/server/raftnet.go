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
// if the peer's certificate chains to one in caFile: the cluster CA, or the
// nodes' own self-signed certificates concatenated. Host names are not
// checked: membership is what caFile says, not what DNS says.
func peerTLS(cert tls.Certificate, caFile string) (server, client *tls.Config, err error) {
	cas := &caPool{path: caFile}
	if _, err := cas.get(); err != nil {
		return nil, nil, err
	}
	verify := func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("vault peer presented no certificate")
		}
		certs := make([]*x509.Certificate, 0, len(raw))
		for _, r := range raw {
			c, err := x509.ParseCertificate(r)
			if err != nil {
				return fmt.Errorf("vault peer certificate: %w", err)
			}
			certs = append(certs, c)
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		pool, err := cas.get()
		if err != nil {
			return err
		}
		_, err = certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err != nil {
			return fmt.Errorf("vault peer certificate is not trusted by the cluster CA file: %w", err)
		}
		return nil
	}
	server = &tls.Config{
		Certificates:          []tls.Certificate{cert},
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: verify,
		MinVersion:            tls.VersionTLS13,
	}
	client = &tls.Config{
		Certificates: []tls.Certificate{cert},
		// The standard check wants a host name; verify checks the chain
		// against the cluster CA file instead.
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: verify,
		MinVersion:            tls.VersionTLS13,
	}
	return server, client, nil
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

	raftConns chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	mu        sync.Mutex
	conns     map[net.Conn]struct{}
}

func newStreamLayer(ln net.Listener, advertise net.Addr, server, client *tls.Config, rs *rpc.Server, log *zap.Logger) *streamLayer {
	s := &streamLayer{
		ln:        tls.NewListener(ln, server),
		advertise: advertise,
		client:    client,
		rpc:       rs,
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

// dispatch authenticates a connection (the TLS handshake), reads its kind
// and hands it to raft or to the RPC server.
func (s *streamLayer) dispatch(c net.Conn) {
	defer s.wg.Done()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var kind [1]byte
	if _, err := io.ReadFull(c, kind[:]); err != nil {
		s.log.Warn("vault cluster: refused a peer connection", zap.String("remote", c.RemoteAddr().String()), zap.Error(err))
		s.untrack(c)
		c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	switch kind[0] {
	case muxRaft:
		select {
		case s.raftConns <- c:
		case <-s.done:
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
// goroutines that served them.
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
	})
	return nil
}

func (s *streamLayer) Addr() net.Addr { return s.advertise }

// Dial opens a raft connection to a peer.
func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return dialPeer(ctx, string(addr), s.client, muxRaft)
}

// dialPeer opens an authenticated connection of the given kind to a node.
func dialPeer(ctx context.Context, addr string, cfg *tls.Config, kind byte) (net.Conn, error) {
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("vault cluster: connecting to %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetWriteDeadline(dl)
	}
	if _, err := c.Write([]byte{kind}); err != nil {
		c.Close()
		return nil, fmt.Errorf("vault cluster: connecting to %s: %w", addr, err)
	}
	_ = c.SetWriteDeadline(time.Time{})
	return c, nil
}

// addr is a net.Addr for an advertised host:port.
type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }
