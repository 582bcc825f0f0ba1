package watcher

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkAggregatorEvents measures the cost of one event through the
// aggregator (channel hand-off, dedup), with 1000 distinct paths.
func BenchmarkAggregatorEvents(b *testing.B) {
	a := newAggregator(time.Hour, time.Hour, 24*time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.run(ctx, nil) }()
	paths := make([][]string, 1000)
	for i := range paths {
		paths[i] = []string{fmt.Sprintf("media/%04d.jpg", i)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		a.in <- input{paths: paths[i%len(paths)]}
	}
	b.StopTimer()
	cancel()
	<-done
}
