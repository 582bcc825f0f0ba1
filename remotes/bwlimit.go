package remotes

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/chatsafe/chatsafe/internal/bwlimit"
)

// bwLimiter limits one remote's bandwidth, upload and download separately,
// following an rclone --bwlimit timetable. It is per remote rather than
// rclone's process-wide token bucket, so two remotes can have different
// limits, and it works on our readers rather than through rclone's transfer
// accounting, which Put and Get do not use.
type bwLimiter struct {
	tt bwlimit.Timetable

	mu     sync.Mutex
	slot   bwlimit.Pair // limits in force, bytes/s; <= 0 is off
	tx, rx *rate.Limiter
}

// minBurst lets small reads through without waiting on each one.
const minBurst = 64 << 10

func newBwLimiter(spec string) (*bwLimiter, error) {
	if spec == "" {
		return nil, nil
	}
	tt, err := bwlimit.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: bwlimit %q: %w (examples: %s)", ErrBadRemote, spec, err, bwlimit.Examples)
	}
	if tt.IsZero() {
		return nil, nil
	}
	return &bwLimiter{tt: tt, slot: bwlimit.Pair{Up: -2, Down: -2}}, nil // -2 forces the first update
}

// limiter returns the limiter in force now for one direction, nil for none.
func (l *bwLimiter) limiter(upload bool) *rate.Limiter {
	now := l.tt.At(time.Now())
	l.mu.Lock()
	defer l.mu.Unlock()
	if now != l.slot {
		l.slot = now
		l.tx = newRate(now.Up)
		l.rx = newRate(now.Down)
	}
	if upload {
		return l.tx
	}
	return l.rx
}

func newRate(bw bwlimit.Rate) *rate.Limiter {
	if bw <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(bw), max(int(bw), minBurst))
}

// reader wraps r so reading from it is paced by the limit in force.
func (l *bwLimiter) reader(ctx context.Context, r io.Reader, upload bool) io.Reader {
	return &limitedReader{ctx: ctx, r: r, l: l, upload: upload}
}

type limitedReader struct {
	ctx    context.Context
	r      io.Reader
	l      *bwLimiter
	upload bool
}

func (lr *limitedReader) Read(p []byte) (int, error) {
	lim := lr.l.limiter(lr.upload)
	if lim == nil {
		return lr.r.Read(p)
	}
	if len(p) > lim.Burst() {
		p = p[:lim.Burst()]
	}
	n, err := lr.r.Read(p)
	if n > 0 {
		if werr := lim.WaitN(lr.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}
