package remotes

import (
	"errors"
	"fmt"
	"io"
)

// errLongerSource is an upload source with more bytes than announced.
var errLongerSource = errors.New("upload source is longer than announced")

// exactSize hands an uploader exactly size bytes of r, and fails instead of
// handing over the last of them when r has more. A backend that commits
// once it has received the announced length (S3's PUT) then never commits a
// truncated object: the body stays short and the request fails. A source
// that ends early leaves the body short the same way.
type exactSize struct {
	r    io.Reader
	left int64
	size int64
}

func (e *exactSize) Read(p []byte) (int, error) {
	if e.left == 0 {
		return 0, e.checkEnd()
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if e.left == 0 {
		if err := e.checkEnd(); errors.Is(err, errLongerSource) {
			return 0, err // withhold the last bytes: the body stays short
		} else if err != io.EOF {
			return n, err
		}
		return n, nil
	}
	if err == io.EOF {
		return n, fmt.Errorf("upload source ended %d bytes short of the announced %d: %w", e.left, e.size, io.ErrUnexpectedEOF)
	}
	return n, err
}

// checkEnd returns io.EOF when the source has nothing past the announced
// size.
func (e *exactSize) checkEnd() error {
	var probe [1]byte
	// A reader may return (0, nil) now and then; one that keeps doing so
	// is not waited on for ever.
	for range 100 {
		n, err := e.r.Read(probe[:])
		if n > 0 {
			return fmt.Errorf("%w (%d bytes)", errLongerSource, e.size)
		}
		if err != nil {
			if err == io.EOF {
				return io.EOF
			}
			return err
		}
	}
	return io.ErrNoProgress
}
