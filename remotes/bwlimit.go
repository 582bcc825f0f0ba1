package remotes

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rclone/rclone/fs"
	"golang.org/x/time/rate"
)

// bwLimiter limits one remote's bandwidth, upload and download separately,
// following an rclone --bwlimit timetable. It is per remote rather than
// rclone's process-wide token bucket, so two remotes can have different
// limits, and it works on our readers rather than through rclone's transfer
// accounting, which Put and Get do not use.
type bwLimiter struct {
	tt fs.BwTimetable

	mu     sync.Mutex
	slot   fs.BwPair // limits in force, bytes/s; <= 0 is off
	tx, rx *rate.Limiter
}

// minBurst lets small reads through without waiting on each one.
const minBurst = 64 << 10

func newBwLimiter(spec string) (*bwLimiter, error) {
	if spec == "" {
		return nil, nil
	}
	l := &bwLimiter{}
	if err := l.tt.Set(spec); err != nil {
		return nil, fmt.Errorf("%w: bwlimit %q: %w (examples: \"1M\", \"512k:4M\", \"08:00,512k 19:00,off\")", ErrBadRemote, spec, err)
	}
	if len(l.tt) == 0 {
		return nil, nil
	}
	l.slot = fs.BwPair{Tx: -2, Rx: -2} // forces the first update
	return l, nil
}

// limiter returns the limiter in force now for one direction, nil for none.
func (l *bwLimiter) limiter(upload bool) *rate.Limiter {
	now := l.tt.LimitAt(time.Now()).Bandwidth
	l.mu.Lock()
	defer l.mu.Unlock()
	if now != l.slot {
		l.slot = now
		l.tx = newRate(now.Tx)
		l.rx = newRate(now.Rx)
	}
	if upload {
		return l.tx
	}
	return l.rx
}

func newRate(bw fs.SizeSuffix) *rate.Limiter {
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
