package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/mount"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
)

// browseSetup is an installation with two snapshots whose contents the
// test knows: settings.json changes, Media/IMG-2.jpg is added.
type browseSetup struct {
	setup
	first, second map[string]any // snapshots --json
}

func newBrowseSetup(t *testing.T) browseSetup {
	t.Helper()
	b := browseSetup{setup: newSetup(t)}
	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")
	os.WriteFile(filepath.Join(b.src, "settings.json"), []byte(`{"a":2,"b":3}`), 0o644)
	os.WriteFile(filepath.Join(b.src, "Media", "IMG-2.jpg"), bytes.Repeat([]byte{7}, 3000), 0o644)
	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")
	var snaps []map[string]any
	if err := json.Unmarshal([]byte(run(t, b.home, "snapshots", "--config", b.cfg, "--json").stdout), &snaps); err != nil || len(snaps) != 2 {
		t.Fatalf("snapshots: %v %v", snaps, err)
	}
	b.first, b.second = snaps[0], snaps[1]
	return b
}

func (b browseSetup) id(s map[string]any) string { return s["short_id"].(string) }

func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var list []map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%v in %q", err, out)
		}
		list = append(list, m)
	}
	return list
}

func TestLsFindDumpDiff(t *testing.T) {
	b := newBrowseSetup(t)
	// A new device: nothing but the remote and the recovery key.
	newDevice := []string{"--remote", b.remote, "--recovery-key-file", b.keyFile}
	r := run(t, b.home, "ls", "--config", b.cfg)
	r.want(t, 0, "/Media/")
	if !strings.Contains(r.stdout, "/settings.json") || strings.Contains(r.stdout, "IMG-1") {
		t.Errorf("ls: %q", r.stdout)
	}
	r = run(t, t.TempDir(), append([]string{"ls", b.id(b.first), "-R", "--json"}, newDevice...)...)
	r.want(t, 0, "")
	got := map[string]float64{}
	for _, e := range jsonLines(t, r.stdout) {
		got[e["path"].(string)] = e["size"].(float64)
	}
	if len(got) != 3 || got["/Media/IMG-1.jpg"] != 250000 || got["/settings.json"] != 7 {
		t.Errorf("ls -R --json of the first snapshot: %v", got)
	}
	run(t, b.home, "ls", "--config", b.cfg, "-l", "latest", "Media").want(t, 0, "IMG-2.jpg")

	r = run(t, b.home, append([]string{"find", "*.jpg", "--json"}, newDevice...)...)
	r.want(t, 0, "")
	var found []string
	for _, m := range jsonLines(t, r.stdout) {
		found = append(found, m["snapshot"].(string)[:8]+m["path"].(string))
	}
	sort.Strings(found)
	want := []string{b.id(b.first) + "/Media/IMG-1.jpg", b.id(b.second) + "/Media/IMG-1.jpg", b.id(b.second) + "/Media/IMG-2.jpg"}
	sort.Strings(want)
	if strings.Join(found, " ") != strings.Join(want, " ") {
		t.Errorf("find: %v, want %v", found, want)
	}

	run(t, b.home, "dump", "--config", b.cfg, b.id(b.first), "settings.json").want(t, 0, `{"a":1}`)
	firstTime := b.first["time"].(string)
	r = run(t, b.home, "dump", "--config", b.cfg, "--time", firstTime, "/settings.json")
	if r.code != 0 || r.stdout != `{"a":1}` {
		t.Errorf("dump --time: %+v", r)
	}
	r = run(t, b.home, append([]string{"dump", "latest", "Media"}, newDevice...)...)
	names := map[string]int{}
	tr := tar.NewReader(strings.NewReader(r.stdout))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("dump of a directory is not a tar stream: %v", err)
		}
		data, _ := io.ReadAll(tr)
		names[h.Name] = len(data)
	}
	if len(names) != 2 || names["IMG-1.jpg"] != 250000 || names["IMG-2.jpg"] != 3000 {
		t.Errorf("dump latest Media: %v", names)
	}

	r = run(t, b.home, "diff", "--config", b.cfg, b.id(b.first), "latest", "--json")
	changes := map[string]string{}
	for _, c := range jsonLines(t, r.stdout) {
		changes[c["path"].(string)] = fmt.Sprint(c["change"], " ", c["old_size"], " ", c["new_size"])
	}
	if len(changes) != 2 || changes["/settings.json"] != "changed 7 13" || changes["/Media/IMG-2.jpg"] != "added 0 3000" {
		t.Errorf("diff: %v", changes)
	}
	run(t, b.home, "diff", "--config", b.cfg, b.id(b.first), "latest").want(t, 0, "+  /Media/IMG-2.jpg")

	dst := filepath.Join(t.TempDir(), "out")
	run(t, b.home, append([]string{"restore", "--to", dst, "--include", "IMG-*", "--exclude", "IMG-1.jpg", "--time", b.second["time"].(string)}, newDevice...)...).want(t, 0, "): 1 file, ")
	if ents, _ := os.ReadDir(filepath.Join(dst, "Media")); len(ents) != 1 || ents[0].Name() != "IMG-2.jpg" {
		t.Errorf("restore --include --exclude: %v", ents)
	}
}

func TestBrowseBadInput(t *testing.T) {
	b := newBrowseSetup(t)
	run(t, b.home, "ls", "--config", b.cfg, "ffffffff").want(t, 2, `no snapshot "ffffffff"`)
	// A lone argument is a snapshot; a path of the newest one gets a hint.
	run(t, b.home, "ls", "--config", b.cfg, "Media", "-l").want(t, 2, "(`latest Media`)")
	run(t, b.home, "ls", "--config", b.cfg, "latest", "Media/nothere.jpg").want(t, 2, "is not in snapshot")
	run(t, b.home, "dump", "--config", b.cfg, "latest", "nothere").want(t, 2, "is not in snapshot")
	run(t, b.home, "ls", "--config", b.cfg, "--time", "2001-01-01 00:00").want(t, 2, "no snapshot at or before")
	run(t, b.home, "dump", "--config", b.cfg, "--time", "last week", "settings.json").want(t, 2, "RFC 3339")
	run(t, b.home, "diff", "--config", b.cfg, "latest", "ffff").want(t, 2, "no snapshot")
	run(t, b.home, "find", "--config", b.cfg, "[x").want(t, 2, "bad pattern")
	run(t, b.home, "restore", "--config", b.cfg, "--to", t.TempDir(), "--time", "2001-01-01T00:00:00Z").want(t, 2, "no snapshot at or before")
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	run(t, b.home, "mount", "--config", b.cfg, full).want(t, 2, "not empty")
	if code := exitCode(fmt.Errorf("mounting: %w", mount.ErrNoFUSE)); code != exitUsage {
		t.Errorf("missing FUSE exits %d", code)
	}
}

// signalWriter is stdout that tells when a line holding want was written.
type signalWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// TestMountCommand mounts a repository on a WebDAV remote from a new
// device (nothing but --remote and the key) and stops it as SIGINT would:
// by cancelling the command's context.
func TestMountCommand(t *testing.T) {
	home := t.TempDir()
	srv := remotetest.StartWebDAV(t, t.TempDir())
	src := filepath.Join(home, "chats")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("hello"), 0o644)
	cfg, key := filepath.Join(home, "c.yaml"), filepath.Join(home, "key.txt")
	run(t, home, "init", "--source", src, "--remote", srv.Spec, "--config", cfg, "--state-dir", filepath.Join(home, "state"), "--recovery-key-out", key).want(t, 0, "recovery key")
	run(t, home, "backup", "--config", cfg).want(t, 0, "saved")

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	out := &signalWriter{want: "mounted", seen: make(chan struct{})}
	done := make(chan error, 1)
	finished := false
	// On an early failure: stop the mount and wait until it is gone.
	t.Cleanup(func() {
		if !finished {
			cancel()
			<-done
		}
	})
	go func() {
		root := buildRootCommand(&globalOptions{defaultConfig: filepath.Join(home, "none.yaml")})
		root.SetArgs([]string{"mount", "--remote", srv.Spec, "--recovery-key-file", key, dir})
		root.SetOut(out)
		root.SetErr(io.Discard)
		done <- root.ExecuteContext(ctx)
	}()
	select {
	case <-out.seen:
	case err := <-done:
		finished = true
		t.Fatalf("mount: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("mount did not report being mounted within a minute")
	}
	b, err := os.ReadFile(filepath.Join(dir, "latest", "a.txt"))
	if err != nil || string(b) != "hello" {
		t.Errorf("latest/a.txt through the mount: %q %v", b, err)
	}
	cancel()
	err = <-done
	finished = true
	if err != nil {
		t.Fatalf("mount after the signal: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("still mounted: %v", ents)
	}
}
