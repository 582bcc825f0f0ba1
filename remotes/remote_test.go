package remotes

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/object"
	"github.com/rclone/rclone/fs/rc"
)

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func mustOpen(t *testing.T, spec string, opts Options) Remote {
	t.Helper()
	r, err := Open(t.Context(), spec, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", Redact(spec), err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func put(t *testing.T, r Remote, name string, data []byte) {
	t.Helper()
	if err := r.Put(t.Context(), name, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%q): %v", name, err)
	}
}

func get(t *testing.T, r Remote, name string, off, n int64) []byte {
	t.Helper()
	rc, err := r.Get(t.Context(), name, off, n)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): %v", name, off, n, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading Get(%q, %d, %d): %v", name, off, n, err)
	}
	return b
}

func names(t *testing.T, r Remote, dir string) []string {
	t.Helper()
	infos, err := r.List(t.Context(), dir)
	if err != nil {
		t.Fatalf("List(%q): %v", dir, err)
	}
	var out []string
	for _, o := range infos {
		out = append(out, o.Name)
	}
	slices.Sort(out)
	return out
}

// plant stores an object under a raw (possibly reserved) name with the given
// modification time, as an interrupted upload would leave it.
func plant(t *testing.T, r Remote, name string, data []byte, modTime time.Time) {
	t.Helper()
	rr := r.(*rcloneRemote)
	info := object.NewStaticObjectInfo(name, modTime, int64(len(data)), true, nil, rr.f)
	if _, err := rr.f.Put(fs.CopyConfig(t.Context(), rr.cfgCtx), bytes.NewReader(data), info); err != nil {
		t.Fatalf("planting %q: %v", name, err)
	}
}

// rawNames lists every object on the remote, temporary ones included.
func rawNames(t *testing.T, r Remote) []string {
	t.Helper()
	rr := r.(*rcloneRemote)
	infos, err := rr.list(fs.CopyConfig(t.Context(), rr.cfgCtx), "", func(string) bool { return true })
	if err != nil {
		t.Fatalf("raw list: %v", err)
	}
	var out []string
	for _, o := range infos {
		out = append(out, o.Name)
	}
	slices.Sort(out)
	return out
}

// testRemote runs the behaviour every Remote must have against r.
func testRemote(t *testing.T, r Remote) {
	ctx := t.Context()
	cfg := []byte(`{"version":1}`)
	delta := randomBytes(1, 300<<10)

	t.Run("PutGetStat", func(t *testing.T) {
		put(t, r, "config", cfg)
		put(t, r, "deltas/00aa", delta)
		if got := get(t, r, "config", 0, -1); !bytes.Equal(got, cfg) {
			t.Fatalf("config read back as %q", got)
		}
		if got := get(t, r, "deltas/00aa", 0, -1); !bytes.Equal(got, delta) {
			t.Fatalf("delta read back differs (%d bytes, want %d)", len(got), len(delta))
		}
		st, err := r.Stat(ctx, "deltas/00aa")
		if err != nil {
			t.Fatal(err)
		}
		if st.Name != "deltas/00aa" || st.Size != int64(len(delta)) {
			t.Fatalf("Stat = %+v", st)
		}
		if d := time.Since(st.ModTime); d < -time.Hour || d > time.Hour {
			t.Fatalf("ModTime %v is not about now", st.ModTime)
		}
	})

	t.Run("Ranges", func(t *testing.T) {
		for _, c := range []struct{ off, n int64 }{
			{0, 1}, {100, 1000}, {int64(len(delta)) - 10, 10}, {int64(len(delta)) - 10, -1},
			{12345, -1}, {7, 0}, {int64(len(delta)), -1}, {int64(len(delta)) - 5, 100},
		} {
			want := delta[c.off:]
			if c.n >= 0 && c.off+c.n <= int64(len(delta)) {
				want = delta[c.off : c.off+c.n]
			}
			if got := get(t, r, "deltas/00aa", c.off, c.n); !bytes.Equal(got, want) {
				t.Errorf("Get(%d, %d): %d bytes, want %d", c.off, c.n, len(got), len(want))
			}
		}
		if _, err := r.Get(ctx, "deltas/00aa", int64(len(delta))+1, 1); err == nil {
			t.Error("Get past the end succeeded")
		}
	})

	t.Run("List", func(t *testing.T) {
		if got, want := names(t, r, ""), []string{"config", "deltas/00aa"}; !slices.Equal(got, want) {
			t.Fatalf("List(\"\") = %q, want %q", got, want)
		}
		if got, want := names(t, r, "deltas"), []string{"deltas/00aa"}; !slices.Equal(got, want) {
			t.Fatalf("List(deltas) = %q, want %q", got, want)
		}
		if got := names(t, r, "nothing-here"); len(got) != 0 {
			t.Fatalf("List of a missing dir = %q", got)
		}
		infos, err := r.List(ctx, "deltas/")
		if err != nil || len(infos) != 1 || infos[0].Size != int64(len(delta)) {
			t.Fatalf("List(deltas/) = %+v, %v", infos, err)
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		cfg2 := []byte(`{"version":2,"longer":true}`)
		put(t, r, "config", cfg2)
		if got := get(t, r, "config", 0, -1); !bytes.Equal(got, cfg2) {
			t.Fatalf("overwritten config reads %q", got)
		}
		if got := names(t, r, ""); !slices.Equal(got, []string{"config", "deltas/00aa"}) {
			t.Fatalf("after overwrite List = %q", got)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		if _, err := r.Stat(ctx, "deltas/missing"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat missing: %v", err)
		}
		if _, err := r.Get(ctx, "deltas/missing", 0, -1); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get missing: %v", err)
		}
		if err := r.Delete(ctx, "deltas/missing"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Delete missing: %v", err)
		}
		if _, err := r.Stat(ctx, "no/such/dir/x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat in missing dir: %v", err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		put(t, r, "deltas/00bb", []byte("short-lived"))
		if err := r.Delete(ctx, "deltas/00bb"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Stat(ctx, "deltas/00bb"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Stat after Delete: %v", err)
		}
		if err := r.Delete(ctx, "deltas/00bb"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second Delete: %v", err)
		}
	})

	t.Run("CutUpload", func(t *testing.T) {
		cut := Faulty(r, FaultOptions{CutUploadRate: 1})
		big := randomBytes(2, 200<<10)
		err := cut.Put(ctx, "deltas/00cc", bytes.NewReader(big), int64(len(big)))
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("cut Put: %v, want ErrUnreachable", err)
		}
		if _, err := r.Stat(ctx, "deltas/00cc"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a cut upload is visible: Stat = %v", err)
		}
		for _, n := range names(t, r, "") {
			if isTemporary(n) || n == "deltas/00cc" {
				t.Fatalf("List shows %q after a cut upload", n)
			}
		}
		// Overwriting with a cut upload keeps the old object whole.
		err = cut.Put(ctx, "deltas/00aa", bytes.NewReader(big), int64(len(big)))
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("cut overwrite: %v", err)
		}
		if got := get(t, r, "deltas/00aa", 0, -1); !bytes.Equal(got, delta) {
			t.Fatalf("a cut overwrite damaged the committed object (%d bytes)", len(got))
		}
	})

	t.Run("WrongSize", func(t *testing.T) {
		data := []byte("0123456789")
		if err := r.Put(ctx, "deltas/short", bytes.NewReader(data), 20); err == nil {
			t.Error("Put of fewer bytes than announced succeeded")
		}
		if err := r.Put(ctx, "deltas/long", bytes.NewReader(data), 5); err == nil {
			t.Error("Put of more bytes than announced succeeded")
		}
		for _, n := range []string{"deltas/short", "deltas/long"} {
			if _, err := r.Stat(ctx, n); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s visible after a failed Put: %v", n, err)
			}
		}
	})

	t.Run("CleanupPartial", func(t *testing.T) {
		old := time.Now().Add(-2 * time.Hour)
		plant(t, r, "tmp/deltas/00dd.0123456789abcdef.partial", []byte("half an upload"), old)
		plant(t, r, "tmp/config.fedcba9876543210.partial", []byte("fresh"), time.Now())
		if got := names(t, r, ""); !slices.Equal(got, []string{"config", "deltas/00aa"}) {
			t.Fatalf("List shows leftovers: %q", got)
		}
		if err := r.CleanupPartial(ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
		raw := rawNames(t, r)
		if slices.Contains(raw, "tmp/deltas/00dd.0123456789abcdef.partial") {
			t.Fatalf("old leftover survived CleanupPartial: %q", raw)
		}
		if !slices.Contains(raw, "tmp/config.fedcba9876543210.partial") {
			t.Fatalf("a recent (maybe live) upload was removed: %q", raw)
		}
		if err := r.CleanupPartial(ctx, 0); err != nil {
			t.Fatal(err)
		}
		for _, n := range rawNames(t, r) {
			if isTemporary(n) {
				t.Fatalf("leftover %q after CleanupPartial(0)", n)
			}
		}
	})

	t.Run("BadNames", func(t *testing.T) {
		for _, n := range []string{"", "/abs", "a//b", "../up", "a/./b", "tmp/x", "x.partial", "sp ace", "back\\slash", "ü"} {
			if err := r.Put(ctx, n, bytes.NewReader(nil), 0); !errors.Is(err, ErrPermanent) {
				t.Errorf("Put(%q): %v, want ErrPermanent", n, err)
			}
		}
	})
}

func TestLocalPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet", "there")
	r := mustOpen(t, dir, Options{})
	if r.String() != dir {
		t.Errorf("String() = %q, want %q", r.String(), dir)
	}
	testRemote(t, r)
	if _, err := os.Stat(filepath.Join(dir, "deltas", "00aa")); err != nil {
		t.Errorf("object not stored as a file under the path: %v", err)
	}
}

func TestMemory(t *testing.T) {
	testRemote(t, mustOpen(t, ":memory:bucket/chats", Options{}))
}

func TestRcloneConfRemote(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "rclone.conf")
	if err := os.WriteFile(conf, []byte("[mine]\ntype = local\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	r := mustOpen(t, "mine:"+data, Options{RcloneConfig: conf, Name: "nas"})
	if r.String() != "nas" {
		t.Errorf("String() = %q, want the friendly name", r.String())
	}
	testRemote(t, r)
	if _, err := os.Stat(filepath.Join(data, "config")); err != nil {
		t.Errorf("remote from rclone.conf did not write under %s: %v", data, err)
	}

	t.Run("UnknownRemote", func(t *testing.T) {
		_, err := Open(t.Context(), "nosuch:chats", Options{RcloneConfig: conf})
		if !errors.Is(err, ErrPermanent) {
			t.Fatalf("Open of an unknown remote: %v, want ErrPermanent", err)
		}
		for _, want := range []string{"nosuch", conf, "rclone config"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	})

	t.Run("OtherConfigWhileOpen", func(t *testing.T) {
		other := filepath.Join(dir, "other.conf")
		if err := os.WriteFile(other, []byte("[mine]\ntype = local\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(t.Context(), "mine:"+data, Options{RcloneConfig: other})
		if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "same rclone_config") {
			t.Fatalf("Open with a second rclone.conf: %v", err)
		}
	})
}

func TestWebDAV(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "webdav", t.TempDir(), "", nil)
	r := mustOpen(t, webdavSpec(srv, "chats"), Options{})
	testRemote(t, r)
	if _, err := os.Stat(filepath.Join(srv.dir, "chats", "deltas", "00aa")); err != nil {
		t.Errorf("object not on the WebDAV server's disk: %v", err)
	}
}

func TestS3(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bucket"), 0o700); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, "s3", dir, "", rc.Params{"auth_key": []string{testAccessKey + "," + testSecretKey}})
	r := mustOpen(t, s3Spec(srv, testAccessKey, testSecretKey, "bucket/chats"), Options{})
	if s := r.String(); strings.Contains(s, testSecretKey) || strings.Contains(s, testAccessKey) || !strings.HasPrefix(s, ":s3") {
		t.Errorf("String() = %q", s)
	}
	testRemote(t, r)

	t.Run("WrongSecret", func(t *testing.T) {
		bad := mustOpen(t, s3Spec(srv, testAccessKey, "not-the-secret", "bucket/chats"), Options{})
		err := bad.Put(t.Context(), "x", bytes.NewReader([]byte("x")), 1)
		if !errors.Is(err, ErrPermanent) {
			t.Fatalf("Put with a wrong secret: %v, want ErrPermanent", err)
		}
		if strings.Contains(err.Error(), "not-the-secret") {
			t.Errorf("error shows the secret: %v", err)
		}
		if Hint(err) == "" {
			t.Errorf("no hint for %v", err)
		}
	})
}

// TestUnknownBackendListsTheBuiltIn: a remote of a backend this build lacks
// is ErrBadRemote, once named, with the backends it has.
func TestUnknownBackendListsTheBuiltIn(t *testing.T) {
	_, err := Open(t.Context(), ":ftpx,host=x:foo", Options{Name: "nas"})
	if !errors.Is(err, ErrBadRemote) {
		t.Fatalf("opening a remote of an unknown backend: %v, want ErrBadRemote", err)
	}
	msg := err.Error()
	if strings.Count(msg, "opening remote") != 1 || !strings.Contains(msg, "nas") {
		t.Errorf("the remote is not named once: %s", msg)
	}
	for _, b := range []string{"drive", "local", "s3", "webdav"} {
		if !strings.Contains(msg, b) {
			t.Errorf("the message lacks the built-in backend %s: %s", b, msg)
		}
	}
}
