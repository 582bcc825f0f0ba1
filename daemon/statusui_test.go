package daemon_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusui"
)

// withListeners turns on the status page and the metrics listener, on
// ports the system picks.
func withListeners(t *testing.T, in *install) {
	t.Helper()
	f, err := os.OpenFile(in.cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\nui_listen: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:0\n"); err != nil {
		t.Fatal(err)
	}
}

// backupAndWaitUploads runs a backup through the daemon and waits until
// every live delta, the snapshot's among them, reached every remote. The
// watcher may have committed the change first (the backup is then
// unchanged) with its uploads still running: what is waited for is the
// daemon having nothing left to upload, not this backup's own events.
func backupAndWaitUploads(t *testing.T, d *daemon.Daemon, remotes int) statusapi.BackupResult {
	t.Helper()
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	res, err := d.Backup(ctx, statusapi.BackupRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, d, "uploads to every remote", func(st statusapi.Status) bool {
		if !idle(st) || len(st.Remotes) != remotes {
			return false
		}
		for _, r := range st.Remotes {
			if r.LastUpload == nil {
				return false
			}
		}
		return true
	})
	return res
}

// TestStatusPageInBrowser drives Debian's headless Chromium against the
// daemon's status page: it shows the latest snapshot, follows a new one,
// and its buttons work (resume backs up what changed while paused).
func TestStatusPageInBrowser(t *testing.T) {
	in := newInstall(t, 2)
	withListeners(t, in)
	chat := openChat(t, in.src)
	chat.write(t, 20)
	d := runInProcess(t, in, daemon.Options{})
	first := backupAndWaitUploads(t, d, 2)
	if first.Snapshot == nil {
		t.Fatal("no snapshot")
	}
	if err := d.SetPaused(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	latest := d.Status().LastSnapshot.ShortID
	tctx, wait, tok := openStatusPage(t, d, in)
	wait(`document.body.dataset.loaded === "1" && document.getElementById("latest").textContent === "` + latest + `"`)
	wait(`document.getElementById("state").textContent === "paused"`)
	// Nothing to act on: no alert box.
	wait(`document.getElementById("alerts").hidden && document.getElementById("alerts").offsetHeight === 0`)
	// The token went into a cookie; the address bar no longer shows it.
	loc, err := chromedp.Run(tctx, chromedp.Location())
	if err != nil || strings.Contains(loc, tok) {
		t.Fatalf("location %q (err %v) still holds the token", loc, err)
	}
	shot(t, tctx, "status-page-paused.png")

	// New messages while paused; Resume backs them up.
	chat.write(t, 30)
	if err := chromedp.Do(tctx, chromedp.Click(chromedp.ID("pause"))); err != nil {
		t.Fatal(err)
	}
	wait(`document.getElementById("latest").textContent !== "` + latest + `" && document.getElementById("state").textContent !== "paused"`)
	now := d.Status().LastSnapshot.ShortID
	if now == latest {
		t.Fatalf("the page shows a new snapshot but the daemon's latest is still %s", latest)
	}
	wait(`document.getElementById("latest").textContent === "` + now + `"`)
	wait(`document.getElementById("timeline").textContent.includes("` + latest + `")`)

	// Back up now: nothing changed, and the page says so.
	if err := chromedp.Do(tctx, chromedp.Click(chromedp.ID("backup"))); err != nil {
		t.Fatal(err)
	}
	wait(`document.getElementById("message").textContent === "nothing changed" || document.getElementById("message").textContent.startsWith("snapshot ")`)
	wait(`document.querySelectorAll("#chart-sizes rect").length >= 1 && document.querySelectorAll("#remotes tr").length === 2`)
	shot(t, tctx, "status-page.png")
	// On a phone's width (the viewport's 412 px) every card fits: long
	// remote paths wrap rather than push a table past its card.
	wide, err := chromedp.Run(tctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".card")].filter(c => c.scrollWidth > c.clientWidth).map(c => c.id || c.className)`))
	if err != nil || len(wide) > 0 {
		t.Errorf("cards wider than the page at 412 px: %v (err %v)", wide, err)
	}
}

// openStatusPage starts headless Chromium on d's status page, with the
// token from in's state directory. wait polls a JavaScript condition for up
// to a minute and fails the test with the page's text if it never holds.
func openStatusPage(t *testing.T, d *daemon.Daemon, in *install) (tctx context.Context, wait func(js string), tok string) {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is needed for the status page test: scripts/test installs it (apt-get install chromium)")
	}
	if tok, err = statusui.ReadToken(in.state); err != nil {
		t.Fatal(err)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()))
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(412, 1400)); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	tctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	t.Cleanup(cancel)
	wait = func(js string) {
		t.Helper()
		if _, err := chromedp.Run(tctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(time.Minute))); err != nil {
			text, _ := chromedp.Run(tctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("waiting for %s: %v\npage:\n%s", js, err, text)
		}
	}
	if err := chromedp.Do(tctx, chromedp.Navigate("http://"+d.WebAddrs().UI+"/?token="+tok)); err != nil {
		t.Fatal(err)
	}
	return tctx, wait, tok
}

// shot saves a full-page screenshot in $CHATSAFE_SCREENSHOT_DIR, or the
// test's temporary directory.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("CHATSAFE_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// TestMetricsListen scrapes metrics_listen and parses it with
// Prometheus' own text parser: build info, per-remote series, the backup
// duration histogram.
func TestMetricsListen(t *testing.T) {
	in := newInstall(t, 2)
	withListeners(t, in)
	chat := openChat(t, in.src)
	chat.write(t, 10)
	d := runInProcess(t, in, daemon.Options{})
	backupAndWaitUploads(t, d, 2)

	resp, err := http.Get("http://" + d.WebAddrs().Metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	bi := fams["chatsafe_build_info"]
	if bi == nil || len(bi.Metric) != 1 || bi.Metric[0].GetGauge().GetValue() != 1 {
		t.Fatalf("chatsafe_build_info: %v", bi)
	}
	labels := map[string]string{}
	for _, l := range bi.Metric[0].Label {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["version"] != "test" || !strings.HasPrefix(labels["goversion"], "go") || labels["rclone"] == "" {
		t.Errorf("chatsafe_build_info labels: %v", labels)
	}
	for _, name := range []string{"chatsafe_remote_last_upload_timestamp_seconds", "chatsafe_remote_queued_deltas",
		"chatsafe_remote_queued_bytes", "chatsafe_remote_up", "chatsafe_uploaded_bytes_total"} {
		byRemote := map[string]float64{}
		for _, m := range fams[name].GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			for _, l := range m.Label {
				if l.GetName() == "remote" {
					byRemote[l.GetValue()] = v
				}
			}
		}
		if len(byRemote) != 2 {
			t.Errorf("%s: want a series for r0 and r1, got %v", name, byRemote)
		}
		switch name {
		case "chatsafe_remote_last_upload_timestamp_seconds":
			for r, v := range byRemote {
				if v < float64(time.Now().Add(-time.Hour).Unix()) {
					t.Errorf("%s{remote=%q} = %v, want the time of the upload", name, r, v)
				}
			}
		case "chatsafe_remote_up", "chatsafe_uploaded_bytes_total":
			for r, v := range byRemote {
				if v <= 0 {
					t.Errorf("%s{remote=%q} = %v, want > 0", name, r, v)
				}
			}
		}
	}
	h := fams["chatsafe_backup_duration_seconds"]
	if h == nil || h.Metric[0].GetHistogram().GetSampleCount() < 1 {
		t.Fatalf("chatsafe_backup_duration_seconds: %v", h)
	}
}
