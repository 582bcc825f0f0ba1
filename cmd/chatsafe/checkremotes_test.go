package main

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
)

// `chatsafe check` checks every remote of the config, not only the first
// one the device reads. These tests give a device two remotes, a local
// directory ("local") and rclone's WebDAV server ("webdav-2"), and spoil
// the second one only.

type twoRemotes struct {
	device
	first, keyFile string
	dav            *remotetest.Server
	second         string // the WebDAV server's objects
}

// twoRemoteDevice makes a repository on both remotes and backs up once.
func twoRemoteDevice(t *testing.T) twoRemotes {
	t.Helper()
	d := twoRemotes{device: newDevice(t, map[string]string{"chat.db": "day 1"}), dav: remotetest.StartWebDAV(t, t.TempDir())}
	d.first, d.keyFile = filepath.Join(d.home, "first"), filepath.Join(d.home, "key.txt")
	d.second = d.dav.ObjectsDir()
	run(t, d.home, "init", "--source", d.src, "--remote", d.first, "--remote", d.dav.Spec, "--config", d.cfg, "--state-dir", d.state, "--recovery-key-out", d.keyFile).want(t, 0, "recovery key")
	run(t, d.home, "backup", "--config", d.cfg).want(t, 0, "saved")
	return d
}

func (d twoRemotes) backup(t *testing.T, content string) {
	t.Helper()
	writeFiles(t, d.src, map[string]string{"chat.db": content})
	run(t, d.home, "backup", "--config", d.cfg).want(t, 0, "saved")
}

// server is the second remote, through its server: the server caches its
// listing, so a file added or removed beside it would not show.
func (d twoRemotes) server(t *testing.T) remotes.Remote {
	t.Helper()
	rem, err := remotes.Open(t.Context(), d.dav.Spec, remotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rem.Close() })
	return rem
}

// deltaNames lists the delta objects of a remote directory, by sequence.
func deltaNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "deltas"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// wantRemoteSection checks that the output names remote name with a line
// of its own, and that this section (up to the next remote's) says has.
func wantRemoteSection(t *testing.T, r result, name, has string) {
	t.Helper()
	out := r.stdout + r.stderr
	i := strings.Index(out, "remote "+name+" ")
	if i < 0 {
		t.Fatalf("no section for remote %s\nstdout: %s\nstderr: %s", name, r.stdout, r.stderr)
	}
	if !strings.Contains(sectionOf(r, name), has) {
		t.Fatalf("remote %s: %q not said\nstdout: %s\nstderr: %s", name, has, r.stdout, r.stderr)
	}
}

// sectionOf is what the output says under remote name, on stdout and
// stderr together.
func sectionOf(r result, name string) string {
	var b strings.Builder
	for _, out := range []string{r.stdout, r.stderr} {
		in := false
		for line := range strings.SplitSeq(out, "\n") {
			if strings.HasPrefix(line, "remote ") {
				in = strings.HasPrefix(line, "remote "+name+" ")
			}
			if in {
				b.WriteString(line + "\n")
			}
		}
	}
	return b.String()
}

// TestCheckFindsForkOnSecondRemote: another device's delta of the same
// sequence lies on the second remote only. check names the fork there
// (exit 6) and says the first remote has none.
func TestCheckFindsForkOnSecondRemote(t *testing.T) {
	a := twoRemoteDevice(t)
	old := filepath.Join(t.TempDir(), "old") // the repository as it was at sequence 1
	for _, n := range append(deltaNames(t, a.first), "config") {
		from := filepath.Join(a.first, "deltas", n)
		to := filepath.Join(old, "deltas", n)
		if n == "config" {
			from, to = filepath.Join(a.first, n), filepath.Join(old, n)
		}
		copyFile(t, from, to)
	}
	a.backup(t, "day 2")

	b := newDevice(t, nil)
	run(t, b.home, "restore", "--join", "--remote", old, "--recovery-key-file", a.keyFile, "--to", b.src, "--config", b.cfg, "--state-dir", b.state).want(t, 0, "")
	writeFiles(t, b.src, map[string]string{"chat.db": "other device"})
	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")
	var theirs string
	for _, n := range deltaNames(t, old) {
		if strings.HasPrefix(n, "0000000000000002-") {
			theirs = n
		}
	}
	b2, err := os.ReadFile(filepath.Join(old, "deltas", theirs))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.server(t).Put(t.Context(), "deltas/"+theirs, bytes.NewReader(b2), int64(len(b2))); err != nil {
		t.Fatal(err)
	}

	r := run(t, a.home, "check", "--config", a.cfg)
	r.want(t, 6, "FORK")
	wantRemoteSection(t, r, "webdav-2", "FORK")
	wantRemoteSection(t, r, "local", "no errors")
}

// TestCheckFindsDeltaMissingOnSecondRemote: the second remote lost the
// newest delta (an upload that never arrived, or one deleted there), which
// is no longer in the spool. check says so (exit 6), naming the delta.
func TestCheckFindsDeltaMissingOnSecondRemote(t *testing.T) {
	a := twoRemoteDevice(t)
	a.backup(t, "day 2")
	names := deltaNames(t, a.second)
	lost := names[len(names)-1]
	if err := a.server(t).Delete(t.Context(), "deltas/"+lost); err != nil {
		t.Fatal(err)
	}
	r := run(t, a.home, "check", "--config", a.cfg)
	r.want(t, 6, lost)
	wantRemoteSection(t, r, "webdav-2", lost)
	wantRemoteSection(t, r, "local", "no errors")

	// As the message says, the next backup copies it there again.
	a.backup(t, "day 3")
	run(t, a.home, "check", "--config", a.cfg).want(t, 0, "no errors")
	if _, err := os.Stat(filepath.Join(a.second, "deltas", lost)); err != nil {
		t.Fatalf("the backup did not copy the lost delta back: %v", err)
	}
}

// TestCheckFindsTamperedObjectOnSecondRemote: a byte of a delta flipped on
// the second remote only is found by check --read-data (exit 6), naming
// the object and the remote.
func TestCheckFindsTamperedObjectOnSecondRemote(t *testing.T) {
	a := twoRemoteDevice(t)
	names := deltaNames(t, a.second)
	p := filepath.Join(a.second, "deltas", names[0])
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x40
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, a.home, "check", "--config", a.cfg, "--read-data")
	r.want(t, 6, names[0][:16])
	wantRemoteSection(t, r, "webdav-2", names[0][:16])
	wantRemoteSection(t, r, "local", "no errors")
	run(t, a.home, "check", "--config", a.cfg, "--remote", "local", "--read-data").want(t, 0, "no errors")
	r = run(t, a.home, "check", "--config", a.cfg, "--remote", "webdav-2", "--read-data")
	r.want(t, 6, names[0][:16])
	if strings.Contains(r.stdout+r.stderr, "remote local ") {
		t.Fatalf("check --remote webdav-2 checked the first remote too:\n%s\n%s", r.stdout, r.stderr)
	}

	// As the note says: deleted there, the next backup copies it back.
	wantRemoteSection(t, r, "webdav-2", "delete it here")
	if err := a.server(t).Delete(t.Context(), "deltas/"+names[0]); err != nil {
		t.Fatal(err)
	}
	a.backup(t, "day 2")
	run(t, a.home, "check", "--config", a.cfg, "--read-data").want(t, 0, "no errors")
}

// TestCheckSecondRemoteUnreachable: a remote that cannot be reached is
// reported (exit 5), the other one is checked all the same; deltas that
// wait in the spool for it are no error once it is back.
func TestCheckSecondRemoteUnreachable(t *testing.T) {
	a := twoRemoteDevice(t)
	a.dav.Stop()
	writeFiles(t, a.src, map[string]string{"chat.db": "day 2"})
	run(t, a.home, "--retry-for", "1s", "backup", "--config", a.cfg)
	r := run(t, a.home, "--retry-for", "1s", "check", "--config", a.cfg)
	r.want(t, 5, "")
	wantRemoteSection(t, r, "local", "no errors")
	wantRemoteSection(t, r, "webdav-2", "reach")

	a.dav.Start()
	r = run(t, a.home, "check", "--config", a.cfg)
	r.want(t, 0, "no errors")
	wantRemoteSection(t, r, "webdav-2", "wait")
}

// TestCheckOtherDevicesDeltasOnSecondRemote: another device joined on the
// second remote and committed there; the first remote lacks its deltas.
// check says so (exit 6), naming that device's delta.
func TestCheckOtherDevicesDeltasOnSecondRemote(t *testing.T) {
	a := twoRemoteDevice(t)
	b := newDevice(t, nil)
	run(t, b.home, "restore", "--join", "--remote", a.dav.Spec, "--recovery-key-file", a.keyFile, "--to", b.src, "--config", b.cfg, "--state-dir", b.state).want(t, 0, "")
	writeFiles(t, b.src, map[string]string{"chat.db": "new device"})
	run(t, b.home, "backup", "--config", b.cfg).want(t, 0, "saved")
	r := run(t, a.home, "check", "--config", a.cfg)
	r.want(t, 6, "")
	wantRemoteSection(t, r, "webdav-2", deviceIDOf(t, b.state)[:8])
	wantRemoteSection(t, r, "local", "no errors")
}

// TestCheckSecondRemoteWithoutRepository: a remote that holds no
// repository (added to the config, not yet back-filled, or emptied) is a
// remote the history is missing from (exit 6), not a usage error; the
// next backup copies the repository there.
func TestCheckSecondRemoteWithoutRepository(t *testing.T) {
	a := twoRemoteDevice(t)
	if err := a.server(t).Delete(t.Context(), "config"); err != nil {
		t.Fatal(err)
	}
	r := run(t, a.home, "check", "--config", a.cfg)
	r.want(t, 6, "no repository")
	wantRemoteSection(t, r, "webdav-2", "no repository")
	wantRemoteSection(t, r, "local", "no errors")
	a.backup(t, "day 2")
	run(t, a.home, "check", "--config", a.cfg).want(t, 0, "no errors")
}
