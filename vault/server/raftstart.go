package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/rpc"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// checkClusterConfig fills defaults and returns the address this node
// advertises to its peers ("" when it is only known once bound).
func checkClusterConfig(cc *ClusterConfig) (advertise string, err error) {
	if cc.NodeID == "" {
		return "", errors.New("vault cluster: no node id (--node-id)")
	}
	if len(cc.NodeID) > 255 {
		return "", errors.New("vault cluster: node id longer than 255 bytes")
	}
	if cc.CAFile == "" {
		return "", errors.New("vault cluster: no peer CA file (--cluster-ca): nodes authenticate each other with it")
	}
	if cc.ApplyTimeout <= 0 {
		cc.ApplyTimeout = 5 * time.Second
	}
	advertise = cc.RaftAdvertise
	if len(cc.Peers) > 0 {
		found := false
		for _, p := range cc.Peers {
			if len(p.ID) > 255 {
				return "", fmt.Errorf("vault cluster: peer id %q longer than 255 bytes", p.ID)
			}
			if p.ID == cc.NodeID {
				found = true
				if advertise == "" {
					advertise = p.Addr
				}
			}
		}
		if !found {
			return "", fmt.Errorf("vault cluster: --peers must list this node (%s) too", cc.NodeID)
		}
	}
	if _, err := os.Stat(cc.CAFile); err != nil {
		return "", fmt.Errorf("vault cluster: peer CA file: %w (make each node's certificate with chatsafe vault cert and concatenate them, or use a cluster CA)", err)
	}
	return advertise, nil
}

// commitTimeout is how soon the leader passes its commit index on to
// followers when no new entries carry it (an empty append at most every
// 2·commitTimeout while idle).
const commitTimeout = 5 * time.Millisecond

// raftConfig is raft's configuration for this node.
func raftConfig(cc *ClusterConfig, hlog hclog.Logger) (*raft.Config, error) {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cc.NodeID)
	rc.Logger = hlog
	// The database is durable and carries its applied index, so it need
	// not be rebuilt from the snapshot at every start; raft replays the
	// log tail over it and applied entries are skipped. startRaft turns
	// the restore back on for a database that is behind the snapshot.
	rc.NoSnapshotRestoreOnStart = true
	rc.BatchApplyCh = true
	// Followers learn that an attempt is committed from the leader's next
	// append; a threshold-OPRF evaluation on a follower waits for it, so
	// the leader tells them soon rather than after raft's 50 ms.
	rc.CommitTimeout = commitTimeout
	set := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	set(&rc.HeartbeatTimeout, cc.HeartbeatTimeout)
	set(&rc.ElectionTimeout, cc.ElectionTimeout)
	set(&rc.LeaderLeaseTimeout, cc.LeaderLeaseTimeout)
	set(&rc.SnapshotInterval, cc.SnapshotInterval)
	if cc.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cc.SnapshotThreshold
	}
	if cc.TrailingLogs > 0 {
		rc.TrailingLogs = cc.TrailingLogs
	}
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("vault cluster: %w", err)
	}
	return rc, nil
}

func startRaftNode(cfg ServerConfig, cert tls.Certificate, st *Store) (n *raftNode, err error) {
	cc := *cfg.Cluster
	advertise, err := checkClusterConfig(&cc)
	if err != nil {
		return nil, err
	}
	srvTLS, cliTLS, err := peerTLS(cert, cc.CAFile)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.DataDir, RaftDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault cluster: %w", err)
	}
	log := cfg.Log.Named("raft")
	n = &raftNode{
		id:           cc.NodeID,
		st:           st,
		fsm:          &raftFSM{st: st, log: log, window: cc.dedupWindow, beforeApply: cc.beforeApply},
		peerClient:   cliTLS,
		applyTimeout: cc.ApplyTimeout,
		log:          log,
		fwd:          make(map[string]*rpc.Client),
	}
	if n.pins, err = loadPins(filepath.Join(dir, PinsFile), cc.NodeID, n.memberAddrs(cc.Peers)); err != nil {
		return nil, err
	}
	var idx uint64
	if err := st.db.View(func(tx *bolt.Tx) error { idx = appliedIndex(tx.Bucket(bucketMeta)); return nil }); err != nil {
		return nil, fmt.Errorf("vault cluster: reading the database: %w", err)
	}
	n.fsm.setApplied(idx)
	var cleanups []func()
	defer func() {
		if err != nil {
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
		}
	}()
	if err := n.listen(&cc, advertise, srvTLS, cliTLS); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { n.stream.Close() })
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: zapWriter{log}, DisableTime: true})
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  n.stream,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hlog,
	})
	cleanups = append(cleanups, func() { n.trans.Close() })
	n.logStore, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("vault cluster: opening the raft log: %w", err)
	}
	cleanups = append(cleanups, func() { n.logStore.Close() })
	if err := n.startRaft(&cc, dir, hlog); err != nil {
		return nil, err
	}
	return n, nil
}

// listen binds the raft port (unless a test handed one over) and starts
// the stream layer that serves raft and the internal RPC on it.
func (n *raftNode) listen(cc *ClusterConfig, advertise string, srvTLS, cliTLS *tls.Config) error {
	ln := cc.listener
	if ln == nil {
		if cc.RaftListen == "" {
			return errors.New("vault cluster: no raft listen address (--raft-listen HOST:PORT)")
		}
		var err error
		if ln, err = net.Listen("tcp", cc.RaftListen); err != nil {
			return fmt.Errorf("vault cluster: listening on %s: %w", cc.RaftListen, err)
		}
	}
	if advertise == "" {
		advertise = ln.Addr().String()
		if ta, ok := ln.Addr().(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
			ln.Close()
			return errors.New("vault cluster: raft listens on all interfaces; give the address peers reach this node at (--peers with this node, or raft_advertise)")
		}
	}
	rs := rpc.NewServer()
	if err := rs.RegisterName("Vault", &rpcService{n: n}); err != nil {
		ln.Close()
		return fmt.Errorf("vault cluster: %w", err)
	}
	n.dial = cc.dial
	n.stream = newStreamLayer(ln, addr(advertise), srvTLS, cliTLS, rs, n.pins, n.log)
	n.stream.dial = cc.dial
	return nil
}

// startRaft opens the snapshot store, bootstraps a new cluster from the
// static peers on a first start, and starts raft.
func (n *raftNode) startRaft(cc *ClusterConfig, dir string, hlog hclog.Logger) error {
	logs, err := raft.NewLogCache(1024, n.logStore)
	if err != nil {
		return fmt.Errorf("vault cluster: %w", err)
	}
	fileSnaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hlog)
	if err != nil {
		return fmt.Errorf("vault cluster: opening the snapshot store: %w", err)
	}
	snaps := &snapshotStore{SnapshotStore: fileSnaps, fsm: n.fsm}
	n.fsm.logs = n.logStore
	rc, err := raftConfig(cc, hlog)
	if err != nil {
		return err
	}
	if rc.NoSnapshotRestoreOnStart, err = n.dbCoversSnapshot(snaps); err != nil {
		return err
	}
	has, err := raft.HasExistingState(logs, n.logStore, snaps)
	if err != nil {
		return fmt.Errorf("vault cluster: reading the raft state: %w", err)
	}
	if !has {
		// A database from a single-node vault (or another cluster) would
		// hold secrets and counters the other replicas never saw.
		if used, err := n.st.inUse(); err != nil || used {
			if err == nil {
				err = fmt.Errorf("vault cluster: %s already holds a vault's data but %s holds no raft state; a node joins a cluster with an empty database (move the old one away)", n.st.path, dir)
			}
			return err
		}
	}
	if !has && len(cc.Peers) > 0 {
		var conf raft.Configuration
		for _, p := range cc.Peers {
			conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
		}
		if err := raft.BootstrapCluster(rc, logs, n.logStore, snaps, noPipeline{n.trans}, conf); err != nil {
			return fmt.Errorf("vault cluster: bootstrapping: %w", err)
		}
	}
	r, err := raft.NewRaft(rc, n.fsm, logs, n.logStore, snaps, noPipeline{n.trans})
	if err != nil {
		return fmt.Errorf("vault cluster: starting raft: %w", err)
	}
	n.raftPtr.Store(r)
	n.raft = r
	return nil
}

// dbCoversSnapshot reports whether the database holds every entry up to
// the latest raft snapshot. When it does not (vault.db put back from a
// backup, or a crash that lost the rename of an installed snapshot), raft
// must restore the snapshot at start: entries up to it are compacted away
// and would never be applied again.
func (n *raftNode) dbCoversSnapshot(snaps raft.SnapshotStore) (bool, error) {
	list, err := snaps.List()
	if err != nil {
		return false, fmt.Errorf("vault cluster: listing raft snapshots: %w", err)
	}
	if len(list) == 0 {
		return true, nil
	}
	var applied uint64
	if err := n.st.db.View(func(tx *bolt.Tx) error { applied = appliedIndex(tx.Bucket(bucketMeta)); return nil }); err != nil {
		return false, fmt.Errorf("vault cluster: reading the database: %w", err)
	}
	if applied >= list[0].Index {
		return true, nil
	}
	n.log.Warn("vault cluster: the database is behind the latest raft snapshot (restored from a backup, or a crash); rebuilding it from the snapshot",
		zap.Uint64("db_applied", applied), zap.Uint64("snapshot_index", list[0].Index))
	return false, nil
}

// memberAddrs returns the current voters for the pins: raft's latest
// configuration once raft runs, the static peers before.
func (n *raftNode) memberAddrs(peers []Peer) func() map[string]string {
	return func() map[string]string {
		out := map[string]string{}
		if r := n.raftPtr.Load(); r != nil {
			for _, s := range r.GetConfiguration().Configuration().Servers {
				out[string(s.ID)] = string(s.Address)
			}
			return out
		}
		for _, p := range peers {
			out[p.ID] = p.Addr
		}
		return out
	}
}

// noPipeline is the node's transport without pipelined replication. With
// pipelining, a leader's replication goroutine can block for good handing
// an entry to a pipeline whose peer stopped answering, and raft's Shutdown
// then waits on it for ever (hashicorp/raft#612; seen here as a vault node
// that never stopped). The vault writes a few entries per login, so one
// AppendEntries round trip at a time costs nothing that matters.
type noPipeline struct{ *raft.NetworkTransport }

func (noPipeline) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}
