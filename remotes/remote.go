// Package remotes owns chatsafe's access to cloud storage: it opens rclone
// backends (from rclone.conf, a connection string or a plain path) behind the
// small Remote interface, makes uploads visible only when complete, classifies
// failures (ErrNotFound, ErrUnreachable, ErrPermanent with a Hint for the
// user), and layers retries (WithRetry) and fault injection (Faulty) around a
// Remote. No other chatsafe package imports rclone.
package remotes

import (
	"context"
	"io"
	"time"
)

// ObjectInfo describes a committed object.
type ObjectInfo struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// Remote is a flat-ish object store. Names are slash-separated ASCII like
// "config" or "deltas/0123abcd...". Names under "tmp/" are reserved for
// uploads in progress.
type Remote interface {
	// String describes the remote for logs and status, credentials redacted.
	String() string
	// Put stores an object so that it becomes visible under name only when
	// complete: on backends where a half-written file would be visible
	// (local, sftp, WebDAV) it uploads to "tmp/<name>.<random>.partial" and
	// moves it server-side; on object stores whose uploads commit atomically
	// (S3, B2, Drive, OneDrive, Dropbox, iCloud) it uploads in place, creating
	// one object only. Either way the stored size is checked afterwards.
	// Overwriting an existing name replaces it. size < 0 means unknown
	// (only for backends that can stream).
	Put(ctx context.Context, name string, r io.Reader, size int64) error
	// Get reads length bytes from offset (length < 0: to the end). Missing ->
	// error wrapping ErrNotFound.
	Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error)
	// List returns every committed object under prefix dir ("" = all),
	// recursively, names relative to the remote root; temporary/partial
	// uploads are not listed. A missing dir lists as empty.
	List(ctx context.Context, dir string) ([]ObjectInfo, error)
	// Stat describes one object; missing -> ErrNotFound.
	Stat(ctx context.Context, name string) (ObjectInfo, error)
	// Delete removes one object; missing -> ErrNotFound.
	Delete(ctx context.Context, name string) error
	// CleanupPartial removes leftovers of interrupted uploads older than
	// olderThan.
	CleanupPartial(ctx context.Context, olderThan time.Duration) error
	// Close releases the backend. Calls after Close fail.
	Close() error
}
