package server

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/internal/cputime"
	"github.com/chatsafe/chatsafe/vault"
	"github.com/chatsafe/chatsafe/vault/client"
)

func cpuTime(tb testing.TB) time.Duration {
	d, err := cputime.Process()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// BenchmarkClusterLogin measures complete logins on a three-node cluster
// on loopback over HTTPS, raft over mutual TLS. Clients are spread over the
// nodes, so two thirds of the commits are forwarded by a follower to the
// leader. The clients run in the same process (cheap Argon2id).
//
//   - threshold: the login of today's accounts: login/begin (the attempt
//     committed on a quorum, this node's share evaluated, the other share
//     gathered from a peer over the internal RPC), login/ke1 (KE1→KE2),
//     login/finish (KE3→key, the reset committed).
//   - legacy: accounts registered before the threshold OPRF, the login as
//     it was (login/start, login/finish), on the same cluster in the same
//     run, so that the ratio of the two is the cost of the threshold OPRF.
func BenchmarkClusterLogin(b *testing.B) {
	// Raft's own timeouts (1 s), not the tests' short ones: on a busy
	// machine a starved heartbeat would otherwise cost the leader mid-run.
	tc := startCluster(b, 3, func(c *ServerConfig) {
		c.Cluster.HeartbeatTimeout, c.Cluster.ElectionTimeout = time.Second, time.Second
		c.Cluster.LeaderLeaseTimeout = 500 * time.Millisecond
	})
	for _, legacy := range []bool{false, true} {
		name := "threshold"
		if legacy {
			name = "legacy"
		}
		b.Run(name, func(b *testing.B) { benchClusterLogins(b, tc, legacy) })
	}
}

func benchClusterLogins(b *testing.B, tc *testCluster, legacy bool) {
	ctx := context.Background()
	const accounts = 64
	key := newKey(b)
	mk := func(nodes ...int) *client.Client {
		opts := client.Options{CAFile: tc.caFile, Timeout: 20 * time.Second, LoginStepTimeout: 20 * time.Second, KSFParameters: testKSF, NoThresholdOPRF: legacy, MaxIdleConnsPerHost: 64}
		for _, i := range nodes {
			opts.URLs = append(opts.URLs, tc.urls[i])
		}
		c, err := client.New(opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.CloseIdleConnections)
		return c
	}
	prefix := fmt.Sprintf("bench-%v-%d-", legacy, b.N)
	regc := mk(0, 1, 2)
	for i := range accounts {
		if err := reg(regc, ctx, fmt.Sprint(prefix, i), []byte("pw"), key); err != nil {
			b.Fatal(err)
		}
	}
	clients := make([]*client.Client, 3)
	for i := range clients {
		clients[i] = mk(i, (i+1)%3, (i+2)%3)
	}
	var next atomic.Int64
	b.SetParallelism(48)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := next.Add(1)
		c := clients[n%3]
		for i := n; pb.Next(); i++ {
			if _, err := rec(c, ctx, fmt.Sprint(prefix, i%accounts), []byte("pw")); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
	// CPU time of the whole process (three nodes and the clients) per
	// login: what the figure would be on an otherwise idle machine.
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/login")
}

// BenchmarkClusterHeadRead measures head reads on a three-node cluster,
// on the leader and through a follower, as the read index serves them
// (readindex) and as they were served before, an OpHead entry through the
// log (log), in the same run. It calls the node below HTTP: the two differ
// only there.
func BenchmarkClusterHeadRead(b *testing.B) {
	tc := startCluster(b, 3, func(c *ServerConfig) {
		c.Cluster.HeartbeatTimeout, c.Cluster.ElectionTimeout = time.Second, time.Second
		c.Cluster.LeaderLeaseTimeout = 500 * time.Millisecond
	})
	ctx := context.Background()
	key := newKey(b)
	if err := reg(tc.client(), ctx, "bench", []byte("pw"), key); err != nil {
		b.Fatal(err)
	}
	h := handleOf("bench")
	if err := tc.client().AdvanceHead(ctx, "bench", key, h, vault.HeadRecord{}, headAt(1, 1)); err != nil {
		b.Fatal(err)
	}
	l := tc.leader()
	srv := tc.nodes[l].srv
	cmd := Command{Op: OpHead, Account: srv.eng.Load().accountID("bench"), OwnerHash: ownerHash(vault.OwnerToken(key, "bench")), HandleHash: vault.HandleHash(h[:])}
	for _, at := range []struct {
		name string
		node int
	}{{"leader", l}, {"follower", (l + 1) % 3}} {
		n := tc.nodes[at.node].srv.node
		for _, how := range []string{"readindex", "log"} {
			b.Run(at.name+"/"+how, func(b *testing.B) {
				read := n.readHead
				if how == "log" {
					read = n.Apply
				}
				b.SetParallelism(8)
				cpu0 := cpuTime(b)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						res, err := read(ctx, cmd)
						if err != nil || res.Status != StatusOK || res.Head.Seq != 1 {
							b.Errorf("%v, %v", res.Status, err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
				b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/read")
			})
		}
	}
}
