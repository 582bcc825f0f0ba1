package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatsafe/chatsafe/internal/buildinfo"
)

// buildInfoGauge is chatsafe_build_info: always 1, the build in labels,
// the way Prometheus exporters say what is running.
func buildInfoGauge(version string) prometheus.Collector {
	in := buildinfo.Get(version)
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "chatsafe_build_info", Help: "Always 1; the labels say which chatsafe build is running.",
	}, []string{"version", "revision", "goversion", "rclone"})
	g.WithLabelValues(in.Version, in.ShortRevision(), in.GoVersion, in.Rclone).Set(1)
	return g
}

var (
	remoteLastUploadDesc = prometheus.NewDesc("chatsafe_remote_last_upload_timestamp_seconds",
		"Unix time a delta last reached this remote from this device, as recorded in the state directory (0: never).", []string{"remote"}, nil)
	remoteQueuedDesc = prometheus.NewDesc("chatsafe_remote_queued_deltas",
		"Live deltas this remote does not hold yet.", []string{"remote"}, nil)
	remoteQueuedBytesDesc = prometheus.NewDesc("chatsafe_remote_queued_bytes",
		"Bytes of the live deltas this remote does not hold yet.", []string{"remote"}, nil)
	remoteUpDesc = prometheus.NewDesc("chatsafe_remote_up",
		"1 when the remote is open and its last upload pass worked, else 0.", []string{"remote"}, nil)
)

// remoteCollector reads each uploader at scrape time, so the per-remote
// series are never stale and a removed remote's series disappear.
type remoteCollector struct{ d *Daemon }

func (c remoteCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- remoteLastUploadDesc
	ch <- remoteQueuedDesc
	ch <- remoteQueuedBytesDesc
	ch <- remoteUpDesc
}

func (c remoteCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	if !d.isReady() {
		return
	}
	d.mu.Lock()
	ups := d.uploaders
	d.mu.Unlock()
	live := d.store.LiveDeltas()
	for _, u := range ups {
		var n, bytes float64
		for _, di := range live {
			if !u.t.Holds(di.Name) {
				n++
				bytes += float64(di.Size)
			}
		}
		last := d.store.LastUpload(u.name)
		var ts float64
		if !last.IsZero() {
			ts = float64(last.UnixNano()) / 1e9
		}
		up := 0.0
		if u.healthy() {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(remoteLastUploadDesc, prometheus.GaugeValue, ts, u.name)
		ch <- prometheus.MustNewConstMetric(remoteQueuedDesc, prometheus.GaugeValue, n, u.name)
		ch <- prometheus.MustNewConstMetric(remoteQueuedBytesDesc, prometheus.GaugeValue, bytes, u.name)
		ch <- prometheus.MustNewConstMetric(remoteUpDesc, prometheus.GaugeValue, up, u.name)
	}
}
