package source

import (
	"bytes"
	"encoding/binary"
	"os"
)

// The wal-index header in the -shm file: how far the -wal's committed
// frames reach, as SQLite's connections see it.

// shmHeader is the part of SQLite's wal-index header (in the -shm file)
// that says how far the -wal's committed frames reach.
type shmHeader struct {
	valid   bool
	mxFrame uint32
	cksum   [8]byte // frame mxFrame's checksum, as the frame header stores it
	salt    [8]byte
}

// shmHeaderOf reads the wal-index header from the -shm file f (nil: none).
// SQLite writes its two copies one after the other and readers accept them
// only when both agree and the checksum holds; so do we. Anything else
// reads as invalid. f is the read's own descriptor, opened before its
// connection and closed after it: closing any descriptor of the -shm
// drops every POSIX lock the process holds on it, SQLite's read lock
// included (then a checkpoint may empty the log under an open read
// transaction).
func shmHeaderOf(f *os.File) shmHeader {
	if f == nil {
		return shmHeader{}
	}
	var b [2 * shmHdrSize]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		return shmHeader{}
	}
	h := b[:shmHdrSize]
	if !bytes.Equal(h, b[shmHdrSize:]) {
		return shmHeader{}
	}
	ne := binary.NativeEndian // shared memory: the writer's byte order
	if ne.Uint32(h[0:]) != shmVersion || h[12] != 1 {
		return shmHeader{}
	}
	var s1, s2 uint32
	for i := 0; i < 40; i += 8 {
		s1 += ne.Uint32(h[i:]) + s2
		s2 += ne.Uint32(h[i+4:]) + s1
	}
	if s1 != ne.Uint32(h[40:]) || s2 != ne.Uint32(h[44:]) {
		return shmHeader{}
	}
	out := shmHeader{valid: true, mxFrame: ne.Uint32(h[16:])}
	binary.BigEndian.PutUint32(out.cksum[0:], ne.Uint32(h[24:]))
	binary.BigEndian.PutUint32(out.cksum[4:], ne.Uint32(h[28:]))
	copy(out.salt[:], h[32:40])
	return out
}

// shmHeaderInside reads the wal-index header inside a read transaction.
// A writer updating it makes its two copies differ for a moment; a few
// reads get past that.
func shmHeaderInside(f *os.File) shmHeader {
	h := shmHeaderOf(f)
	for i := 0; i < 3 && f != nil && !h.valid; i++ {
		h = shmHeaderOf(f)
	}
	return h
}
