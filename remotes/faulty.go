package remotes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"
)

// FaultOptions choose the faults Faulty injects.
type FaultOptions struct {
	Seed int64
	// FailRate is the fraction of calls failing with a transient
	// (ErrUnreachable-wrapped) error before doing anything.
	FailRate float64
	// CutUploadRate is the fraction of Puts whose data stops halfway, as a
	// disconnect mid-upload would: the inner Put sees a reader that errors.
	CutUploadRate float64
	// Latency is added to every call (cancellable through ctx).
	Latency time.Duration
	// Down, when it returns true, makes every call fail with ErrUnreachable.
	Down func() bool
	// CutDownload, when it returns true for an object's name, makes a Get
	// of it return half of what was asked for and then fail as a dropped
	// connection would (ErrUnreachable, io.ErrUnexpectedEOF).
	CutDownload func(name string) bool
}

// Faulty wraps a real Remote with injected faults, for tests of this package
// and of its users (store, daemon).
func Faulty(r Remote, opts FaultOptions) Remote {
	return &faultyRemote{r: r, opts: opts, rng: rand.New(rand.NewPCG(uint64(opts.Seed), 0x636861747361666))}
}

type faultyRemote struct {
	r    Remote
	opts FaultOptions
	mu   sync.Mutex
	rng  *rand.Rand
}

// errInjected is the cause of every injected fault.
var errInjected = errors.New("injected fault")

func (f *faultyRemote) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.Float64() < p
}

// before runs ahead of every call: latency, then an outage or a random failure.
func (f *faultyRemote) before(ctx context.Context, op string) error {
	if f.opts.Latency > 0 {
		t := time.NewTimer(f.opts.Latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if f.opts.Down != nil && f.opts.Down() {
		return fmt.Errorf("%s on %s: %w: %w (remote is down)", op, f.r, ErrUnreachable, errInjected)
	}
	if f.chance(f.opts.FailRate) {
		return fmt.Errorf("%s on %s: %w: %w (connection failed)", op, f.r, ErrUnreachable, errInjected)
	}
	return nil
}

func (f *faultyRemote) String() string { return f.r.String() }

func (f *faultyRemote) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := f.before(ctx, "put"); err != nil {
		return err
	}
	if !f.chance(f.opts.CutUploadRate) {
		return f.r.Put(ctx, name, r, size)
	}
	cut := &cutReader{r: r, left: max(size, 0) / 2}
	err := f.r.Put(ctx, name, cut, size)
	if err == nil {
		err = errors.New("the inner remote accepted the truncated upload")
	}
	// Whatever the inner remote made of the broken stream, it was a disconnect.
	return fmt.Errorf("put %q on %s: %w: %w (upload cut after %d bytes): %w", name, f.r, ErrUnreachable, errInjected, max(size, 0)/2, err)
}

// cutReader passes left bytes through, then fails as a dropped connection.
type cutReader struct {
	r    io.Reader
	left int64
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, fmt.Errorf("%w: %w (connection reset mid-upload)", ErrUnreachable, errInjected)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

func (f *faultyRemote) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := f.before(ctx, "get"); err != nil {
		return nil, err
	}
	rc, err := f.r.Get(ctx, name, offset, length)
	if err != nil || f.opts.CutDownload == nil || !f.opts.CutDownload(name) {
		return rc, err
	}
	left := length / 2
	if length < 0 {
		left = 0
	}
	return &cutDownload{rc: rc, left: left}, nil
}

// cutDownload passes left bytes through, then fails as a dropped
// connection.
type cutDownload struct {
	rc   io.ReadCloser
	left int64
}

func (c *cutDownload) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, fmt.Errorf("%w: %w (connection reset mid-download): %w", ErrUnreachable, errInjected, io.ErrUnexpectedEOF)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *cutDownload) Close() error { return c.rc.Close() }

func (f *faultyRemote) List(ctx context.Context, dir string) ([]ObjectInfo, error) {
	if err := f.before(ctx, "list"); err != nil {
		return nil, err
	}
	return f.r.List(ctx, dir)
}

func (f *faultyRemote) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	if err := f.before(ctx, "stat"); err != nil {
		return ObjectInfo{}, err
	}
	return f.r.Stat(ctx, name)
}

func (f *faultyRemote) Delete(ctx context.Context, name string) error {
	if err := f.before(ctx, "delete"); err != nil {
		return err
	}
	return f.r.Delete(ctx, name)
}

func (f *faultyRemote) CleanupPartial(ctx context.Context, olderThan time.Duration) error {
	if err := f.before(ctx, "clean up partial uploads"); err != nil {
		return err
	}
	return f.r.CleanupPartial(ctx, olderThan)
}

func (f *faultyRemote) Close() error { return f.r.Close() }
