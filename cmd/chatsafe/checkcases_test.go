package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/chatsafe/chatsafe/remotes/remotetest"
)

// More cases of `chatsafe check` on a device with two remotes: a second
// remote that does not open, or holds another repository, or another
// device's deltas, and --remote NAME mistyped or with a broken config.

// TestCheckSecondRemoteDownAtOpen: rclone's sftp backend connects when the
// remote is opened, and the server is down. The first remote is checked
// all the same, and the second gets its own section.
func TestCheckSecondRemoteDownAtOpen(t *testing.T) {
	d := newDevice(t, map[string]string{"chat.db": "day 1"})
	first, second := filepath.Join(d.home, "first"), filepath.Join(d.home, "second")
	run(t, d.home, "init", "--source", d.src, "--remote", first, "--remote", second, "--config", d.cfg, "--state-dir", d.state, "--recovery-key-out", filepath.Join(d.home, "key.txt")).want(t, 0, "recovery key")
	run(t, d.home, "backup", "--config", d.cfg).want(t, 0, "saved")
	replaceInFile(t, d.cfg, second, ":sftp,host=127.0.0.1,port=1,user=bob,pass=5GMYegP-g1hBC01AwB2Dedm8XJ8g6TA,known_hosts_file=none:/x")

	r := run(t, d.home, "--retry-for", "1s", "check", "--config", d.cfg)
	if r.code != exitUnreachable {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, exitUnreachable, r.stdout, r.stderr)
	}
	wantRemoteSection(t, r, "local", "no errors")
	wantRemoteSection(t, r, "local-2", "could not be reached")

	r = run(t, d.home, "--retry-for", "1s", "check", "--config", d.cfg, "--remote", "local")
	if r.code != 0 || strings.Contains(r.stdout+r.stderr, "local-2") {
		t.Fatalf("--remote local: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// TestCheckSecondRemoteBadRcloneEntry: the second remote names an
// rclone.conf entry that is not there: a usage error in its own section.
func TestCheckSecondRemoteBadRcloneEntry(t *testing.T) {
	d := newDevice(t, map[string]string{"chat.db": "day 1"})
	first, second := filepath.Join(d.home, "first"), filepath.Join(d.home, "second")
	run(t, d.home, "init", "--source", d.src, "--remote", first, "--remote", second, "--config", d.cfg, "--state-dir", d.state, "--recovery-key-out", filepath.Join(d.home, "key.txt")).want(t, 0, "recovery key")
	replaceInFile(t, d.cfg, second, "nosuchentry:x")

	r := run(t, d.home, "check", "--config", d.cfg)
	if r.code != exitUsage {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, exitUsage, r.stdout, r.stderr)
	}
	wantRemoteSection(t, r, "local", "no errors")
	wantRemoteSection(t, r, "local-2", "error:")
}

// TestCheckSecondRemoteOtherRepository: the second remote's config is
// another repository's. The key opened the first remote, so it is not the
// wrong key: that remote holds a different or replaced repository.
func TestCheckSecondRemoteOtherRepository(t *testing.T) {
	a := twoRemoteDevice(t)
	o := newDevice(t, map[string]string{"x": "y"})
	oremote := filepath.Join(o.home, "r")
	run(t, o.home, "init", "--source", o.src, "--remote", oremote, "--config", o.cfg, "--state-dir", o.state, "--recovery-key-out", filepath.Join(o.home, "k")).want(t, 0, "recovery key")
	copyFile(t, filepath.Join(oremote, "config"), filepath.Join(a.second, "config"))

	r := run(t, a.home, "check", "--config", a.cfg)
	if r.code != exitIntegrity {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, exitIntegrity, r.stdout, r.stderr)
	}
	wantRemoteSection(t, r, "local", "no errors")
	wantRemoteSection(t, r, "webdav-2", "different or replaced repository")
	if strings.Contains(r.stderr, "wrong recovery key") {
		t.Fatalf("the key that opened the first remote called wrong:\n%s", r.stderr)
	}
}

// TestCheckDivergedAndReadsFail: the second remote holds another device's
// delta and its delta reads fail. Exit 6, the worst of what that one
// remote gave, not 5.
func TestCheckDivergedAndReadsFail(t *testing.T) {
	dav := remotetest.StartWebDAV(t, t.TempDir())
	var failReads atomic.Bool
	target, err := url.Parse("http://" + dav.Addr)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Opening reads the trailers (the last 64 KiB); --read-data
		// reads whole deltas, which fail.
		if failReads.Load() && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/deltas/") && r.Header.Get("Range") != "bytes=0-65535" {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	spec := fmt.Sprintf(":webdav,vendor=rclone,url='%s':chats", srv.URL)

	a := newDevice(t, map[string]string{"chat.db": "day 1"})
	keyFile := filepath.Join(a.home, "key.txt")
	run(t, a.home, "init", "--source", a.src, "--remote", filepath.Join(a.home, "first"), "--remote", spec, "--config", a.cfg, "--state-dir", a.state, "--recovery-key-out", keyFile).want(t, 0, "recovery key")
	run(t, a.home, "backup", "--config", a.cfg).want(t, 0, "saved")
	b := newDevice(t, nil)
	run(t, b.home, "restore", "--join", "--remote", dav.Spec, "--recovery-key-file", keyFile, "--to", b.src, "--config", b.cfg, "--state-dir", b.state).want(t, 0, "")
	writeFiles(t, b.src, map[string]string{"chat.db": "new device"})
	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")

	failReads.Store(true)
	r := run(t, a.home, "--retry-for", "1s", "check", "--config", a.cfg, "--read-data")
	if r.code != exitIntegrity {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, exitIntegrity, r.stdout, r.stderr)
	}
	wantRemoteSection(t, r, "webdav-2", "remote unreachable")
	wantRemoteSection(t, r, "webdav-2", "the first remote's history does not")
}

// TestCheckTakenOverSecondRemote: device B joined on the first remote only
// and commits there. A's check finds B's delta missing from the second
// remote; A's backup uploads nothing (it stops, taken over), so the advice
// says who writes now and that it does not upload to that remote.
func TestCheckTakenOverSecondRemote(t *testing.T) {
	a := twoRemoteDevice(t)
	b := newDevice(t, nil)
	run(t, b.home, "restore", "--join", "--remote", a.first, "--recovery-key-file", a.keyFile, "--to", b.src, "--config", b.cfg, "--state-dir", b.state).want(t, 0, "")
	writeFiles(t, b.src, map[string]string{"chat.db": "new device"})
	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}

	for _, when := range []string{"before", "after"} {
		if when == "after" {
			writeFiles(t, a.src, map[string]string{"chat.db": "day 2"})
			run(t, a.home, "backup", "--config", a.cfg).want(t, exitTakenOver, "taken over")
		}
		r := run(t, a.home, "check", "--config", a.cfg)
		if r.code != exitIntegrity {
			t.Fatalf("%s A's backup: exit %d, want %d\nstdout: %s\nstderr: %s", when, r.code, exitIntegrity, r.stdout, r.stderr)
		}
		sec := sectionOf(r, "webdav-2")
		if !strings.Contains(sec, "taken over") || !strings.Contains(sec, host) || strings.Contains(sec, "`chatsafe backup`") {
			t.Fatalf("%s A's backup, the advice for webdav-2:\n%s", when, sec)
		}
	}
}

// TestCheckRemoteNameWithBrokenConfig: --config FILE --remote NAME with a
// config that does not load gives the config's error.
func TestCheckRemoteNameWithBrokenConfig(t *testing.T) {
	d := newDevice(t, nil)
	if err := os.WriteFile(d.cfg, []byte("remotes: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, d.home, "check", "--config", d.cfg, "--remote", "nas")
	if r.code != exitUsage || !strings.Contains(r.stderr, d.cfg) || strings.Contains(r.stderr, "not both") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// TestCheckUnknownRemoteName: --remote NAME, mistyped, with the default
// config: the error names the config's remotes, it does not ask for a
// recovery key to read a directory NAME. A path still reads that remote.
func TestCheckUnknownRemoteName(t *testing.T) {
	d := newDevice(t, map[string]string{"chat.db": "day 1"})
	cfg := filepath.Join(d.home, "default-config", "config.yaml")
	first, keyFile := filepath.Join(d.home, "first"), filepath.Join(d.home, "key.txt")
	run(t, d.home, "init", "--source", d.src, "--remote", first, "--config", cfg, "--state-dir", d.state, "--recovery-key-out", keyFile).want(t, 0, "recovery key")

	r := run(t, d.home, "check", "--remote", "nass")
	want := fmt.Sprintf("no remote named %q in %s (remotes: local)", "nass", cfg)
	if r.code != exitUsage || !strings.Contains(r.stderr, want) {
		t.Fatalf("exit %d, want %d and %q\nstdout: %s\nstderr: %s", r.code, exitUsage, want, r.stdout, r.stderr)
	}
	run(t, d.home, "check", "--remote", "local").want(t, 0, "no errors")
	run(t, d.home, "check", "--remote", first, "--recovery-key-file", keyFile).want(t, 0, "no errors")
}

func replaceInFile(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not hold %q:\n%s", path, old, b)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCheckStopsWhenInterrupted: Ctrl-C while the second of three remotes
// is checked stops the check there: no section for the third, and exit
// 130.
func TestCheckStopsWhenInterrupted(t *testing.T) {
	dav := remotetest.StartWebDAV(t, t.TempDir())
	// Cancelled as signalContext does on Ctrl-C.
	ctx, cancelCause := context.WithCancelCause(t.Context())
	cancel := func() { cancelCause(signalCause{syscall.SIGINT}) }
	defer cancel()
	var interrupt atomic.Bool
	target, err := url.Parse("http://" + dav.Addr)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if interrupt.Load() {
			cancel()
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	spec := fmt.Sprintf(":webdav,vendor=rclone,url='%s':chats", srv.URL)

	d := newDevice(t, map[string]string{"chat.db": "day 1"})
	run(t, d.home, "init", "--source", d.src, "--remote", filepath.Join(d.home, "first"), "--remote", spec, "--remote", filepath.Join(d.home, "third"),
		"--config", d.cfg, "--state-dir", d.state, "--recovery-key-out", filepath.Join(d.home, "key.txt")).want(t, 0, "recovery key")
	run(t, d.home, "backup", "--config", d.cfg).want(t, 0, "saved")
	run(t, d.home, "check", "--config", d.cfg).want(t, 0, "remote local-3 ")

	interrupt.Store(true)
	r := runContext(ctx, d.home, "check", "--config", d.cfg)
	if r.code != exitInterrupted || !strings.Contains(r.stderr, "chatsafe: interrupted: ") || strings.Contains(r.stdout+r.stderr, "remote local-3 ") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}
