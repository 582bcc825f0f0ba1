package remotes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/rc"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/api/googleapi"

	webdavapi "github.com/rclone/rclone/backend/webdav/api"
	obscure_ "github.com/rclone/rclone/fs/config/obscure"
)

var netOpError = net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

// TestRetryOverFaulty: with 30 % of calls failing and some uploads cut, every
// Put through WithRetry succeeds and every object reads back intact.
func TestRetryOverFaulty(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "webdav", t.TempDir(), "", nil)
	inner := mustOpen(t, webdavSpec(srv, "chats"), Options{})
	r := WithRetry(Faulty(inner, FaultOptions{Seed: 7, FailRate: 0.3, CutUploadRate: 0.1}),
		RetryOptions{Attempts: 30, Initial: time.Millisecond, Max: 5 * time.Millisecond})
	want := map[string][]byte{}
	for i := range 50 {
		name := fmt.Sprintf("deltas/%04x", i)
		want[name] = randomBytes(uint64(i), 1000+i*997)
		put(t, r, name, want[name])
	}
	infos, err := r.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != len(want) {
		t.Fatalf("List has %d objects, want %d", len(infos), len(want))
	}
	for name, data := range want {
		if got := get(t, r, name, 0, -1); !bytes.Equal(got, data) {
			t.Fatalf("%s read back as %d bytes, want %d intact", name, len(got), len(data))
		}
	}
	if err := inner.CleanupPartial(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	for _, n := range rawNames(t, inner) {
		if isTemporary(n) {
			t.Fatalf("leftover %q", n)
		}
	}
}

// TestServerStopped: a stopped WebDAV server gives ErrUnreachable after the
// bounded retries; started again on the same port, the same Remote works.
func TestServerStopped(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "webdav", t.TempDir(), "", nil)
	r := WithRetry(mustOpen(t, webdavSpec(srv, "chats"), Options{}),
		RetryOptions{Attempts: 2, Initial: time.Millisecond, Max: 10 * time.Millisecond})
	put(t, r, "config", []byte("v1"))

	srv.stop()
	// Bounded retries must give up well before this deadline.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	err := r.Put(ctx, "deltas/01", bytes.NewReader([]byte("x")), 1)
	if !errors.Is(err, ErrUnreachable) || ctx.Err() != nil {
		t.Fatalf("Put with the server down: %v (ctx: %v), want ErrUnreachable", err, ctx.Err())
	}
	if _, err := r.Get(ctx, "config", 0, -1); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Get with the server down: %v", err)
	}

	srv.start(srv.addr)
	put(t, r, "deltas/01", []byte("x"))
	if got := get(t, r, "config", 0, -1); string(got) != "v1" {
		t.Fatalf("after restart config = %q", got)
	}
}

// counting wraps a real Remote and counts calls, to see what WithRetry does.
type counting struct {
	Remote
	calls atomic.Int32
}

func (c *counting) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	c.calls.Add(1)
	return c.Remote.Put(ctx, name, r, size)
}

func (c *counting) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	c.calls.Add(1)
	return c.Remote.Stat(ctx, name)
}

func TestRetryNeverRetriesPermanentOrNotFound(t *testing.T) {
	c := &counting{Remote: mustOpen(t, t.TempDir(), Options{})}
	r := WithRetry(c, RetryOptions{Attempts: 5, Initial: time.Millisecond})
	if _, err := r.Stat(t.Context(), "missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat: %v", err)
	}
	if err := r.Put(t.Context(), "tmp/reserved", bytes.NewReader(nil), 0); !errors.Is(err, ErrPermanent) {
		t.Fatalf("Put: %v", err)
	}
	if n := c.calls.Load(); n != 2 {
		t.Fatalf("%d calls, want 2 (no retries)", n)
	}
}

func TestRetryGivesUpAfterAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &counting{Remote: Faulty(mustOpen(t, ":memory:b", Options{}), FaultOptions{FailRate: 1})}
		r := WithRetry(c, RetryOptions{Attempts: 4, Initial: time.Second, Max: 3 * time.Second})
		start := time.Now()
		_, err := r.Stat(t.Context(), "x")
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("Stat: %v", err)
		}
		if n := c.calls.Load(); n != 4 {
			t.Fatalf("%d calls, want 4", n)
		}
		// Backoffs 1s, 2s, 3s (capped), each jittered to [d/2, d].
		if d := time.Since(start); d < 3*time.Second || d > 6*time.Second {
			t.Fatalf("gave up after %v, want within [3s, 6s]", d)
		}
	})
}

// A time budget stops the retries before the attempts run out, and the
// error keeps its kind (exit 5 in the CLI).
func TestRetryGivesUpAtTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &counting{Remote: Faulty(mustOpen(t, ":memory:b", Options{}), FaultOptions{FailRate: 1})}
		r := WithRetry(c, RetryOptions{Attempts: 100, Initial: time.Second, Max: 30 * time.Second, Budget: 10 * time.Second})
		start := time.Now()
		_, err := r.Stat(t.Context(), "x")
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "retry time limit is 10s") {
			t.Fatalf("Stat: %v", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("gave up after %v, past the 10s budget", d)
		}
		// Backoffs of at least 0.5s, 1s, 2s, 4s fit in 10s at most 4 times
		// after the first try; the default 100 attempts were not used.
		if n := c.calls.Load(); n < 2 || n > 5 {
			t.Fatalf("%d calls within the budget", n)
		}
	})
}

func TestRetryHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := WithRetry(Faulty(mustOpen(t, ":memory:b", Options{}), FaultOptions{FailRate: 1}),
			RetryOptions{Attempts: 100, Initial: time.Minute, Max: time.Hour})
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		start := time.Now()
		err := r.Put(ctx, "x", bytes.NewReader([]byte("x")), 1)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Put: %v, want the context's deadline", err)
		}
		if d := time.Since(start); d != 90*time.Second {
			t.Fatalf("returned after %v, want at the deadline", d)
		}
	})
}

// TestRetryNonSeekableReader: a Put whose reader was partly consumed cannot be
// replayed, so it is not retried.
func TestRetryNonSeekableReader(t *testing.T) {
	c := &counting{Remote: Faulty(mustOpen(t, t.TempDir(), Options{}), FaultOptions{CutUploadRate: 1})}
	r := WithRetry(c, RetryOptions{Attempts: 5, Initial: time.Millisecond})
	data := randomBytes(3, 4096)
	err := r.Put(t.Context(), "x", io.MultiReader(bytes.NewReader(data)), int64(len(data)))
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Put: %v", err)
	}
	if n := c.calls.Load(); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
}

func TestFaultyDownAndLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var down atomic.Bool
		r := Faulty(mustOpen(t, ":memory:b", Options{}), FaultOptions{Latency: 2 * time.Second, Down: down.Load})
		start := time.Now()
		put(t, r, "a", []byte("a"))
		if d := time.Since(start); d != 2*time.Second {
			t.Fatalf("Put took %v, want the 2s latency", d)
		}
		down.Store(true)
		if _, err := r.Stat(t.Context(), "a"); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("Stat while down: %v", err)
		}
		down.Store(false)
		if _, err := r.Stat(t.Context(), "a"); err != nil {
			t.Fatalf("Stat after recovery: %v", err)
		}
	})
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ spec, want string }{
		{":s3,provider=Minio,endpoint='http://127.0.0.1:9000',access_key_id=AKIA,secret_access_key=SECRETKEY:bucket/x",
			":s3,endpoint='http://127.0.0.1:9000',provider='Minio':bucket/x"},
		{":webdav,url='https://alice:pw@dav.example.com/remote.php?token=T',user=alice,pass=OBSCURED:chats",
			":webdav,url='https://dav.example.com/remote.php':chats"},
		{"gdrive:chats", "gdrive:chats"},
		{"gdrive,client_secret=CS:chats", "gdrive:chats"},
		{"/mnt/nas/chats", "/mnt/nas/chats"},
	} {
		if got := Redact(c.spec); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.spec, got, c.want)
		}
	}
	r := mustOpen(t, ":s3,provider=Minio,endpoint='http://127.0.0.1:1',secret_access_key=SECRETKEY,access_key_id=AK:bucket/x", Options{})
	if s := r.String(); strings.Contains(s, "SECRETKEY") || !strings.Contains(s, "s3") {
		t.Errorf("String() = %q", s)
	}
	// Nothing listens on port 1: the error must not carry the secret either.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := r.Put(ctx, "x", bytes.NewReader([]byte("x")), 1)
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("Put to a closed port: %v, want ErrUnreachable", err)
	}
	if err != nil && strings.Contains(err.Error(), "SECRETKEY") {
		t.Errorf("error shows the secret: %v", err)
	}
}

func TestWebDAVWrongPassword(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "webdav", t.TempDir(), "", rc.Params{"user": "alice", "pass": "right"})
	good := mustOpen(t, fmt.Sprintf(":webdav,vendor=rclone,url='%s',user=alice,pass=%s:chats", srv.url(), obscure(t, "right")), Options{})
	put(t, good, "config", []byte("ok"))

	bad := mustOpen(t, fmt.Sprintf(":webdav,vendor=rclone,url='%s',user=alice,pass=%s:chats", srv.url(), obscure(t, "wrong")), Options{})
	err := bad.Put(t.Context(), "config", bytes.NewReader([]byte("no")), 2)
	if !errors.Is(err, ErrPermanent) {
		t.Fatalf("Put with a wrong password: %v, want ErrPermanent", err)
	}
	if _, err := bad.List(t.Context(), ""); !errors.Is(err, ErrPermanent) {
		t.Fatalf("List with a wrong password: %v, want ErrPermanent", err)
	}
	if Hint(err) == "" {
		t.Errorf("no hint for %v", err)
	}
	if err != nil && strings.Contains(err.Error(), obscure(t, "wrong")) {
		t.Errorf("error shows the password: %v", err)
	}
}

func obscure(t *testing.T, s string) string {
	t.Helper()
	o, err := obscure_.Obscure(s)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestClassify(t *testing.T) {
	icloud := remoteInfo{backend: "iclouddrive", configName: "icloud"}
	drive := remoteInfo{backend: "drive", configName: "gdrive"}
	for _, c := range []struct {
		name  string
		info  remoteInfo
		err   error
		class error
		hint  string // substring of Hint; "" = no hint
	}{
		{"not found", remoteInfo{}, fs.ErrorObjectNotFound, ErrNotFound, ""},
		{"dir not found", remoteInfo{}, fs.ErrorDirNotFound, ErrNotFound, ""},
		{"refused", remoteInfo{}, fmt.Errorf("dial: %w", &netOpError), ErrUnreachable, ""},
		{"webdav 503", remoteInfo{}, &webdavapi.Error{StatusCode: 503, Status: "503 Service Unavailable"}, ErrUnreachable, ""},
		{"webdav 401", remoteInfo{configName: "nas"}, &webdavapi.Error{StatusCode: 401, Status: "401 Unauthorized"}, ErrPermanent, "rclone config reconnect nas:"},
		{"webdav 507", remoteInfo{}, &webdavapi.Error{StatusCode: 507, Status: "507 Insufficient Storage"}, ErrPermanent, "free space"},
		{"drive quota", drive, &googleapi.Error{Code: 403, Message: "The user's Drive storage quota has been exceeded.", Errors: []googleapi.ErrorItem{{Reason: "storageQuotaExceeded"}}}, ErrPermanent, "Google Drive is full"},
		{"drive rate limit", drive, &googleapi.Error{Code: 403, Message: "User Rate Limit Exceeded", Errors: []googleapi.ErrorItem{{Reason: "userRateLimitExceeded"}}}, ErrUnreachable, ""},
		{"drive invalid_grant", drive, errors.New(`couldn't fetch token: invalid_grant: maybe token expired? - try refreshing with "rclone config reconnect gdrive:"`), ErrPermanent, "rclone config reconnect gdrive:"},
		{"icloud trust token", icloud, errors.New("trust token expired, please reauth"), ErrPermanent, "30-day trust token"},
		{"icloud adp", icloud, errors.New("Missing PCS cookies from the request"), ErrPermanent, "Advanced Data Protection"},
		{"s3 5xx", remoteInfo{}, fakeHTTPError{code: 500}, ErrUnreachable, ""},
		{"s3 403", remoteInfo{}, fakeHTTPError{code: 403, msg: "AccessDenied"}, ErrPermanent, "access rights"},
		{"unknown", remoteInfo{}, errors.New("something odd"), nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := wrapErr(context.Background(), "put", "x", "remote", c.info, c.err)
			for _, s := range []error{ErrNotFound, ErrUnreachable, ErrPermanent} {
				if got := errors.Is(err, s); got != (s == c.class) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
				}
			}
			if !errors.Is(err, c.err) {
				t.Errorf("the cause is not wrapped: %v", err)
			}
			h := Hint(err)
			if (c.hint == "") != (h == "") || !strings.Contains(h, c.hint) {
				t.Errorf("Hint = %q, want it to contain %q", h, c.hint)
			}
		})
	}
	// A cancelled caller gets its context error, not a class.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := wrapErr(ctx, "get", "x", "remote", remoteInfo{}, context.Canceled)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreachable) {
		t.Errorf("cancelled: %v", err)
	}
}

// fakeHTTPError stands for an AWS SDK response error (it has HTTPStatusCode).
type fakeHTTPError struct {
	code int
	msg  string
}

func (e fakeHTTPError) Error() string       { return fmt.Sprintf("http %d: %s", e.code, e.msg) }
func (e fakeHTTPError) HTTPStatusCode() int { return e.code }

func TestBwLimit(t *testing.T) {
	if _, err := newBwLimiter("fast please"); !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "bwlimit") {
		t.Fatalf("bad bwlimit: %v", err)
	}
	if _, err := Open(t.Context(), t.TempDir(), Options{BwLimit: "lots"}); err == nil {
		t.Fatal("Open accepted a bad bwlimit")
	}
	synctest.Test(t, func(t *testing.T) {
		l, err := newBwLimiter("100k:off")
		if err != nil {
			t.Fatal(err)
		}
		data := randomBytes(4, 500<<10)
		start := time.Now()
		n, err := io.Copy(io.Discard, l.reader(t.Context(), bytes.NewReader(data), true))
		if err != nil || n != int64(len(data)) {
			t.Fatalf("copy: %d, %v", n, err)
		}
		// 500 KiB at 100 KiB/s with a 100 KiB burst: about 4 s.
		if d := time.Since(start); d < 3900*time.Millisecond || d > 5*time.Second {
			t.Fatalf("500KiB upload at 100KiB/s took %v", d)
		}
		start = time.Now()
		if _, err := io.Copy(io.Discard, l.reader(t.Context(), bytes.NewReader(data), false)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("unlimited download took %v", d)
		}
	})
	// Through a real remote, a limited Put stops when ctx is cancelled.
	r := mustOpen(t, t.TempDir(), Options{BwLimit: "64k"})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	started := make(chan struct{})
	data := randomBytes(5, 10<<20) // 160 s at 64 KiB/s
	src := &notifyReader{r: bytes.NewReader(data), first: started}
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		errc <- r.Put(ctx, "slow", src, int64(len(data)))
	}()
	<-started
	cancel()
	wg.Wait()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled limited Put: %v", err)
	}
	if _, err := r.Stat(t.Context(), "slow"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancelled Put left an object: %v", err)
	}
}

// notifyReader closes first on its first Read.
type notifyReader struct {
	r     io.Reader
	first chan struct{}
	once  sync.Once
}

func (n *notifyReader) Read(p []byte) (int, error) {
	n.once.Do(func() { close(n.first) })
	return n.r.Read(p)
}

func TestRcloneLogger(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	SetRcloneLogger(zap.New(core))
	defer SetRcloneLogger(nil)
	fs.Infof(nil, "chatter")
	fs.Errorf("obj", "it broke")
	entries := logs.All()
	if len(entries) != 1 || entries[0].Message != "it broke" || entries[0].Level != zapcore.ErrorLevel {
		t.Fatalf("logged %+v, want only the error", entries)
	}
}

// TestRetryOncePerRunAfterGivingUp: in one command (PerRun), a remote
// that was retried to the limit and still failed is tried once by each
// later call, not retried for the whole budget again (an offline backup
// that asks three times would wait three budgets); one call that
// succeeds restores the retries.
func TestRetryOncePerRunAfterGivingUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var down atomic.Bool
		down.Store(true)
		c := &counting{Remote: Faulty(mustOpen(t, ":memory:b", Options{}), FaultOptions{Down: down.Load})}
		r := WithRetry(c, RetryOptions{Attempts: 100, Initial: time.Second, Max: 2 * time.Second, Budget: 10 * time.Second, PerRun: true})
		if _, err := r.Stat(t.Context(), "x"); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("first Stat: %v", err)
		}
		first := c.calls.Load()
		if first < 2 {
			t.Fatalf("the first call made %d tries, want retries", first)
		}
		start := time.Now()
		for i := range 2 {
			if _, err := r.Stat(t.Context(), "x"); !errors.Is(err, ErrUnreachable) {
				t.Fatalf("later Stat %d: %v", i, err)
			}
		}
		if n := c.calls.Load() - first; n != 2 {
			t.Fatalf("two later calls made %d tries, want one each", n)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("later calls waited %v", d)
		}
		down.Store(false)
		if _, err := r.Stat(t.Context(), "x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Stat once the remote is back: %v", err)
		}
		down.Store(true)
		before := c.calls.Load()
		r.Stat(t.Context(), "x")
		if n := c.calls.Load() - before; n < 2 {
			t.Fatalf("after a success, a failing call made %d tries, want retries again", n)
		}
	})
}
