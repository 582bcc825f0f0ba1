package server

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/vault/client"
)

func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkClusterLogin measures complete logins (KE1→KE2 with the attempt
// committed on a quorum, KE3→key with the reset committed) on a three-node
// cluster on loopback over HTTPS, raft over mutual TLS. Clients are spread
// over the nodes, so two thirds of the commits are forwarded by a follower
// to the leader. The clients run in the same process (cheap Argon2id).
func BenchmarkClusterLogin(b *testing.B) {
	tc := startCluster(b, 3, nil)
	ctx := context.Background()
	const accounts = 64
	key := newKey(b)
	regc := tc.client()
	for i := range accounts {
		if err := reg(regc, ctx, fmt.Sprint("bench", i), []byte("pw"), key); err != nil {
			b.Fatal(err)
		}
	}
	clients := make([]*client.Client, 3)
	for i := range clients {
		clients[i] = tc.client(i, (i+1)%3, (i+2)%3)
	}
	var next atomic.Int64
	b.SetParallelism(48)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := next.Add(1)
		c := clients[n%3]
		for i := n; pb.Next(); i++ {
			if _, err := rec(c, ctx, fmt.Sprint("bench", i%accounts), []byte("pw")); err != nil {
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
