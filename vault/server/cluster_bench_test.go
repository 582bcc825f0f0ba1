package server

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/internal/cputime"
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
		opts := client.Options{CAFile: tc.caFile, Timeout: 20 * time.Second, KSFParameters: testKSF, NoThresholdOPRF: legacy, MaxIdleConnsPerHost: 64}
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
