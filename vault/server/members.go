package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/rpc"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/vault"
)

// MembersRequest changes or lists the cluster's voters.
type MembersRequest struct {
	Op        string // "add", "remove" or "list"
	ID        string // add/remove: the node id
	Addr      string // add: the node's raft host:port
	Forwarded bool   // set by a follower passing the request to the leader
}

// Member is one voter of the cluster.
type Member struct {
	ID     string
	Addr   string
	Leader bool
}

// members runs req on the leader.
func (n *raftNode) members(req MembersRequest) ([]Member, error) {
	timeout := n.applyTimeout
	switch req.Op {
	case "add":
		if req.ID == "" || req.Addr == "" {
			return nil, errors.New("adding a node needs its id and raft address")
		}
		if err := n.raft.AddVoter(raft.ServerID(req.ID), raft.ServerAddress(req.Addr), 0, timeout).Error(); err != nil {
			return nil, fmt.Errorf("adding node %s: %w", req.ID, err)
		}
		n.log.Info("vault cluster: node added", zap.String("node", req.ID), zap.String("addr", req.Addr))
	case "remove":
		if req.ID == "" {
			return nil, errors.New("removing a node needs its id")
		}
		if err := n.raft.RemoveServer(raft.ServerID(req.ID), 0, timeout).Error(); err != nil {
			return nil, fmt.Errorf("removing node %s: %w", req.ID, err)
		}
		n.log.Info("vault cluster: node removed", zap.String("node", req.ID))
	case "list":
	default:
		return nil, fmt.Errorf("unknown membership operation %q (add, remove or list)", req.Op)
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("reading the cluster configuration: %w", err)
	}
	_, leader := n.raft.LeaderWithID()
	var out []Member
	for _, s := range f.Configuration().Servers {
		out = append(out, Member{ID: string(s.ID), Addr: string(s.Address), Leader: s.ID == leader})
	}
	return out, nil
}

// AdminOptions says how to reach a cluster node's internal port as an
// administrator. The connection is mutual TLS exactly as between nodes:
// the certificate and key must be trusted by the cluster CA file (on a
// node, its own DataDir/tls/cert.pem and key.pem).
type AdminOptions struct {
	Addr              string // any node's raft host:port; a follower passes the request to the leader
	CAFile            string // the cluster CA file (--cluster-ca)
	CertFile, KeyFile string
	Timeout           time.Duration // default 15s
}

// ClusterMembers sends a membership request to a cluster node and returns
// the voters after it.
func ClusterMembers(ctx context.Context, opts AdminOptions, req MembersRequest) ([]Member, error) {
	req.Forwarded = false
	var out []Member
	if err := adminCall(ctx, opts, "Vault.Members", req, &out); err != nil {
		return nil, fmt.Errorf("vault cluster membership: %w", err)
	}
	return out, nil
}

// adminCall calls method on the node at opts.Addr as an administrator.
// The caller says, in its error, what it asked.
func adminCall(ctx context.Context, opts AdminOptions, method string, args, reply any) error {
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
	if err != nil {
		return fmt.Errorf("loading the node certificate %s and key %s: %w", opts.CertFile, opts.KeyFile, err)
	}
	_, cli, err := peerTLS(cert, opts.CAFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	conn, err := dialPeer(ctx, opts.Addr, cli, muxRPC, nil, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", vault.ErrUnreachable, err)
	}
	c := rpc.NewClient(conn)
	defer c.Close()
	call := c.Go(method, args, reply, make(chan *rpc.Call, 1))
	select {
	case <-call.Done:
	case <-ctx.Done():
		return fmt.Errorf("%w: %s did not answer: %w", vault.ErrUnreachable, opts.Addr, ctx.Err())
	}
	if call.Error != nil {
		return fmt.Errorf("vault node %s: %w", opts.Addr, call.Error)
	}
	return nil
}

// initCluster sets the node up once the cluster can commit (the server
// secrets are created by the first node to propose them, then shared
// through the log), retrying until it works or ctx ends. Until then the
// node answers 503.
func (s *Server) initCluster(ctx context.Context) {
	wait := 50 * time.Millisecond
	for {
		err := s.initState(ctx)
		if err == nil {
			s.setupErr.Store(nil)
			s.log.Info("vault cluster node ready", zap.String("node", s.node.id))
			return
		}
		switch {
		case errors.Is(err, errSealed):
			why := "this vault node cannot set up: the cluster's secrets do not open with its master key. Every node needs the same master key: copy master.key from a node of the cluster into this node's data directory (or use the same key in each HSM) and restart it (docs/vault.md, \"Replication\")"
			s.setupErr.Store(&why)
			s.log.Error("vault cluster: the cluster's secrets do not open with this node's master key; every node needs the same master key (the same master.key file, or the same key in each HSM); retrying", zap.Error(err))
		case !errors.Is(err, errNoQuorum):
			s.log.Warn("vault cluster: setting up failed; retrying", zap.Error(err))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// Ready is closed once the node can answer requests (a cluster node: once
// it has set up through a quorum).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Leader reports whether this node is the cluster's leader now (a single
// node always is).
func (s *Server) Leader() bool { return s.node == nil || s.node.raft.State() == raft.Leader }
