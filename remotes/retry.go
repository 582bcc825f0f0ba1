package remotes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// RetryOptions tune WithRetry. Zero values take the defaults.
type RetryOptions struct {
	Attempts int           // total tries per call; default 8
	Initial  time.Duration // first backoff; default 200ms
	Max      time.Duration // backoff cap; default 30s
	// Budget caps the time one call may spend from its first try: no retry
	// waits past it (0 = no cap, Attempts alone decides). It bounds how long
	// a user waits for "remote unreachable" (the config's retry_for).
	Budget time.Duration
	// PerRun is for one command's run (not the daemon's): once a call
	// gave up on the remote (its retries or its budget spent), later
	// calls try once, until one succeeds. The user waits for one budget,
	// not one for each call.
	PerRun bool
	Log    *zap.Logger // retries are logged at info; nil = not logged
}

// Retry defaults.
const (
	DefaultRetryAttempts = 8
	DefaultRetryInitial  = 200 * time.Millisecond
	DefaultRetryMax      = 30 * time.Second
)

// WithRetry returns r with transient failures retried with exponential backoff
// and full jitter, on top of rclone's own pacer. ErrNotFound and ErrPermanent
// are never retried, and a cancelled ctx stops at once. Put is retried only
// when its reader can be rewound (io.Seeker) or nothing was read from it yet;
// a Get is retried until the body is opened, not while it is read.
func WithRetry(r Remote, opts RetryOptions) Remote {
	if opts.Attempts <= 0 {
		opts.Attempts = DefaultRetryAttempts
	}
	if opts.Initial <= 0 {
		opts.Initial = DefaultRetryInitial
	}
	if opts.Max <= 0 {
		opts.Max = DefaultRetryMax
	}
	if opts.Max < opts.Initial {
		opts.Max = opts.Initial
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	return &retryRemote{r: r, opts: opts}
}

type retryRemote struct {
	r    Remote
	opts RetryOptions
	// gaveUp, with PerRun: a call gave up on the remote, and none has
	// succeeded since.
	gaveUp atomic.Bool
}

// retryable reports whether err is worth another try.
func retryable(ctx context.Context, err error) bool {
	return ctx.Err() == nil &&
		!errors.Is(err, ErrNotFound) && !errors.Is(err, ErrPermanent) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// backoff returns the wait before retry number n (0-based): exponential,
// capped, with full jitter in [d/2, d] so that many clients spread out.
func (rr *retryRemote) backoff(n int) time.Duration {
	d := rr.opts.Initial
	for i := 0; i < n && d < rr.opts.Max; i++ {
		d *= 2
	}
	d = min(d, rr.opts.Max)
	return d/2 + rand.N(d/2+1)
}

// do runs fn until it succeeds, fails for good, or attempts or the time
// budget run out.
func (rr *retryRemote) do(ctx context.Context, op, name string, fn func() (retry bool, err error)) error {
	var err error
	start := time.Now()
	for attempt := 0; ; attempt++ {
		var again bool
		again, err = fn()
		if rr.opts.PerRun && (err == nil || !retryable(ctx, err) && ctx.Err() == nil) {
			rr.gaveUp.Store(false) // the remote answered
		}
		if err == nil || !again || !retryable(ctx, err) {
			break
		}
		if rr.opts.PerRun && rr.gaveUp.Load() {
			return fmt.Errorf("%w (not retried: an earlier call in this run already retried it to the limit)", err)
		}
		if attempt+1 >= rr.opts.Attempts {
			rr.gaveUp.Store(true)
			break
		}
		wait := rr.backoff(attempt)
		if b := rr.opts.Budget; b > 0 && time.Since(start)+wait > b {
			rr.gaveUp.Store(true)
			// The error keeps its kind (ErrUnreachable stays exit 5).
			return fmt.Errorf("%w (gave up after %d tries: the retry time limit is %s)", err, attempt+1, b)
		}
		rr.opts.Log.Info("remote call failed, retrying",
			zap.Stringer("remote", rr.r), zap.String("op", op), zap.String("object", name),
			zap.Int("attempt", attempt+1), zap.Duration("backoff", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (while retrying after: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
	return err
}

func (rr *retryRemote) String() string { return rr.r.String() }

func (rr *retryRemote) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	seeker, canSeek := r.(io.Seeker)
	var start int64
	if canSeek {
		var err error
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			canSeek = false
		}
	}
	first := true
	return rr.do(ctx, "put", name, func() (bool, error) {
		if !first && canSeek {
			if _, err := seeker.Seek(start, io.SeekStart); err != nil {
				return false, fmt.Errorf("rewinding the upload source for a retry: %w", err)
			}
		}
		first = false
		if canSeek {
			// Rewound before each retry, so nothing needs counting; and
			// the inner remote sees the reader itself (a local-path
			// remote links an *os.File rather than copying it).
			return true, rr.r.Put(ctx, name, r, size)
		}
		cr := &countingReader{r: r}
		err := rr.r.Put(ctx, name, cr, size)
		return cr.n == 0, err
	})
}

func (rr *retryRemote) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := rr.do(ctx, "get", name, func() (bool, error) {
		var err error
		rc, err = rr.r.Get(ctx, name, offset, length)
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return rc, nil
}

func (rr *retryRemote) List(ctx context.Context, dir string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	err := rr.do(ctx, "list", dir, func() (bool, error) {
		var err error
		out, err = rr.r.List(ctx, dir)
		return true, err
	})
	return out, err
}

func (rr *retryRemote) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	var oi ObjectInfo
	err := rr.do(ctx, "stat", name, func() (bool, error) {
		var err error
		oi, err = rr.r.Stat(ctx, name)
		return true, err
	})
	return oi, err
}

func (rr *retryRemote) Delete(ctx context.Context, name string) error {
	first := true
	return rr.do(ctx, "delete", name, func() (bool, error) {
		err := rr.r.Delete(ctx, name)
		if !first && errors.Is(err, ErrNotFound) {
			// An earlier try deleted it but its reply was lost.
			return false, nil
		}
		first = false
		return true, err
	})
}

func (rr *retryRemote) CleanupPartial(ctx context.Context, olderThan time.Duration) error {
	return rr.do(ctx, "clean up partial uploads", "", func() (bool, error) {
		return true, rr.r.CleanupPartial(ctx, olderThan)
	})
}

func (rr *retryRemote) Close() error { return rr.r.Close() }
