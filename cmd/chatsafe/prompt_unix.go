//go:build linux || darwin

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// readSecretLine reads one line from the terminal f with echo off (the
// line discipline still edits it and turns Ctrl-C into a signal). It
// waits in select(2) on the terminal and on a pipe that ctx's end
// closes, so no read is left blocked behind it. The end of input (a read
// of 0 bytes, Ctrl-D) is io.EOF; x/term's ReadPassword reads on past it.
// ready runs once echo is off (it shows the prompt).
func readSecretLine(ctx context.Context, f *os.File, ready func()) ([]byte, error) {
	fd := int(f.Fd())
	saved, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, fmt.Errorf("reading the terminal's settings: %w", err)
	}
	quiet := *saved
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	quiet.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &quiet); err != nil {
		return nil, fmt.Errorf("turning the terminal's echo off: %w", err)
	}
	defer unix.IoctlSetTermios(fd, ioctlSetTermios, saved)
	ready()

	wake, woken, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer wake.Close()
	defer woken.Close()
	stop := context.AfterFunc(ctx, func() { woken.Close() })
	defer stop()

	var line []byte
	buf := make([]byte, 256)
	for {
		if err := waitReadable(ctx, fd, int(wake.Fd())); err != nil {
			return nil, err
		}
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN):
			continue
		case err != nil:
			return nil, err
		case n == 0:
			return line, io.EOF
		}
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return append(line, buf[:i]...), nil
		}
		line = append(line, buf[:n]...)
	}
}

// waitReadable waits until fd can be read, or ctx ends (wake becomes
// readable when its writer closes). select(2), not poll(2): macOS's poll
// does not wait on terminals.
func waitReadable(ctx context.Context, fd, wake int) error {
	if fd >= unix.FD_SETSIZE || wake >= unix.FD_SETSIZE {
		return nil // too high for select: a plain blocking read
	}
	for {
		var r unix.FdSet
		r.Set(fd)
		r.Set(wake)
		_, err := unix.Select(max(fd, wake)+1, &r, nil, nil, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("waiting for the terminal: %w", err)
		}
		if r.IsSet(wake) {
			return ctx.Err()
		}
		return nil
	}
}
