//go:build !linux

package store

import (
	"bufio"
	"os"
)

// newSpoolSink returns what a delta's bytes are written through.
func newSpoolSink(f *os.File) spoolSink {
	return bufSink{bufio.NewWriterSize(cappedWriter{&writebackWriter{f: f}, spoolWriteSize}, spoolWriteSize)}
}
