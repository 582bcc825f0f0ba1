//go:build linux

package store

import (
	"errors"
	"io"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Direct spool writes. A first backup writes its whole corpus (~1.2 GB on
// the bench's --full) into the spool, and through the page cache that
// copy into newly allocated cache pages was a fifth of the backup's CPU
// (perf, 2026-12-02: copy_folio_from_iter_atomic); written with O_DIRECT
// the device reads the bytes from our buffer instead (docs/benchmarks.md,
// "First backup, fourth round"). Only a delta's bytes past directAfter go
// that way: a daemon cycle's small delta stays in the page cache, where
// its upload reads it back at once.

const (
	// directBuf is the size, and the alignment, of a direct write: 1 MiB
	// writes took a quarter of the system time of 128 KiB ones.
	directBuf = 1 << 20
	// directAlign is the offset and length alignment O_DIRECT needs on
	// the file systems it is used on (their logical block size or less).
	directAlign = 4096
	// directAfter: a delta's first bytes are written through the page
	// cache, the rest directly.
	directAfter = 8 << 20
)

// directPool keeps the aligned buffers of direct writes (directBuf each,
// one per delta being written).
var directPool = sync.Pool{New: func() any {
	b := make([]byte, directBuf+directAlign)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & (directAlign - 1))
	b = b[off : off+directBuf : off+directBuf]
	return &b
}}

// directSink gathers a delta's bytes in an aligned buffer and writes each
// full one: through the page cache (in spoolWriteSize pieces) until
// directAfter bytes are written, directly after that. Every buffer starts
// at a multiple of directBuf, so every direct write is aligned; the last,
// partial buffer (Flush) goes directly up to its last whole block and
// through the page cache after it. Not safe for concurrent use (the
// deltaWriter's wmu orders its writes).
type directSink struct {
	f       *os.File
	buf     *[]byte
	n       int   // bytes of *buf filled
	written int64 // bytes written to f
	directN int64 // of them, written directly
	direct  bool  // f is in O_DIRECT mode
	off     bool  // direct writes failed once: no more
	wb      *writebackWriter
	cached  io.Writer
	// err is the first failed write's: every later Write and Flush
	// returns it (the delta's offsets no longer match its bytes).
	err error
}

// newSpoolSink returns what a delta's bytes are written through.
func newSpoolSink(f *os.File) spoolSink {
	wb := &writebackWriter{f: f}
	return &directSink{f: f, wb: wb, cached: cappedWriter{wb, spoolWriteSize}}
}

func (s *directSink) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n := 0
	for len(p) > 0 {
		if s.buf == nil {
			s.buf = directPool.Get().(*[]byte)
		}
		k := copy((*s.buf)[s.n:], p)
		s.n += k
		n += k
		p = p[k:]
		if s.n == directBuf {
			if err := s.writeOut(s.written >= directAfter); err != nil {
				s.err = err
				return n, err
			}
		}
	}
	return n, nil
}

// writeOut writes the whole buffer, directly when direct and allowed.
func (s *directSink) writeOut(direct bool) error {
	b := (*s.buf)[:s.n]
	var err error
	if direct && !s.off && s.setDirect(true) {
		var k int
		k, err = s.f.Write(b)
		if errors.Is(err, unix.EINVAL) && k == 0 {
			// The file system refused this alignment after all: the
			// delta goes through the page cache from here on.
			s.off, err = true, nil
		} else {
			b = b[k:]
			s.written += int64(k)
			s.directN += int64(k)
		}
	}
	if err == nil && len(b) > 0 {
		if !s.setDirect(false) {
			return errors.New("cannot turn O_DIRECT off on the delta file")
		}
		if s.wb.written != s.written {
			// Direct writes came before: the writeback counts from here.
			s.wb.written, s.wb.started = s.written, s.written
		}
		var k int
		k, err = s.cached.Write(b)
		s.written += int64(k)
	}
	s.n = 0
	return err
}

// setDirect turns O_DIRECT on f on or off; false if that failed.
func (s *directSink) setDirect(on bool) bool {
	if s.direct == on {
		return true
	}
	rc, err := s.f.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	_ = rc.Control(func(fd uintptr) {
		fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		if err != nil {
			return
		}
		if on {
			fl |= unix.O_DIRECT
		} else {
			fl &^= unix.O_DIRECT
		}
		_, err = unix.FcntlInt(fd, unix.F_SETFL, fl)
		ok = err == nil
	})
	if ok {
		s.direct = on
	} else if on {
		s.off = true
	}
	return ok
}

// Flush writes what the buffer holds (its whole blocks directly, when
// past directAfter) and returns the buffer to the pool.
func (s *directSink) Flush() error {
	if s.err != nil {
		s.release()
		return s.err
	}
	if s.buf == nil {
		return nil
	}
	var err error
	if whole := s.n &^ (directAlign - 1); whole > 0 && s.written >= directAfter {
		rest := s.n - whole
		s.n = whole
		if err = s.writeOut(true); err == nil {
			copy(*s.buf, (*s.buf)[whole:whole+rest])
			s.n = rest
		}
	}
	if err == nil && s.n > 0 {
		err = s.writeOut(false)
	}
	s.release()
	s.err = err
	return err
}

// release returns the buffer, unwritten, to the pool.
func (s *directSink) release() {
	if s.buf != nil {
		directPool.Put(s.buf)
		s.buf, s.n = nil, 0
	}
}
