package daemon

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the daemon's Prometheus metrics, in a registry of its own.
type metrics struct {
	backups       *prometheus.CounterVec
	uploadedBytes *prometheus.CounterVec
	remoteErrors  *prometheus.CounterVec
	deltaSize     prometheus.Histogram
	lastSuccess   prometheus.Gauge
	prunes        *prometheus.CounterVec
	lastPrune     prometheus.Gauge
	prunedObjects prometheus.Counter
	// backupDuration: how long each backup cycle took (failed ones too).
	backupDuration prometheus.Histogram
	handler        http.Handler
}

func newMetrics(d *Daemon) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		backups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatsafe_backups_total", Help: "Backup cycles by result (committed, unchanged, failed).",
		}, []string{"result"}),
		uploadedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatsafe_uploaded_bytes_total", Help: "Bytes of deltas uploaded, by remote.",
		}, []string{"remote"}),
		remoteErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatsafe_remote_errors_total", Help: "Failed upload attempts, by remote.",
		}, []string{"remote"}),
		deltaSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chatsafe_delta_size_bytes", Help: "Size of each delta written by a backup cycle.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 12), // 1 KiB .. 4 GiB
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chatsafe_last_success_timestamp_seconds", Help: "Unix time of the last successful backup cycle.",
		}),
		prunes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatsafe_prunes_total", Help: "Scheduled prunes by result (ok, failed).",
		}, []string{"result"}),
		lastPrune: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chatsafe_last_prune_timestamp_seconds", Help: "Unix time of the last successful scheduled prune.",
		}),
		prunedObjects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatsafe_pruned_objects_total", Help: "Objects deleted from remotes by scheduled prunes.",
		}),
	}
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chatsafe_pending_deltas", Help: "Deltas in the local spool, not yet on every remote.",
	}, func() float64 {
		if !d.isReady() {
			return 0
		}
		return float64(len(d.store.Pending()))
	})
	m.backupDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "chatsafe_backup_duration_seconds", Help: "Time each backup cycle took, from the scan to the committed delta.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 14), // 50ms .. ~7min
	})
	for _, r := range []string{"committed", "unchanged", "failed"} {
		m.backups.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "failed"} {
		m.prunes.WithLabelValues(r)
	}
	reg.MustRegister(m.backups, m.uploadedBytes, m.remoteErrors, m.deltaSize, m.lastSuccess, m.prunes, m.lastPrune, m.prunedObjects, pending,
		m.backupDuration, buildInfoGauge(d.opts.Version), remoteCollector{d},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m
}
