package store

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

// uploadsFile, in the repository's state directory, records when a delta
// last reached each target from this device, by the target's name:
// whichever process uploaded it (the daemon, or a `chatsafe backup` run
// without it), a daemon started later says when. It is written after
// each delta uploaded, never when a sync had nothing to upload.
const uploadsFile = "uploads.json"

// uploadTimes is what uploadsFile holds, kept in memory (the zero value
// holds nothing and saves nothing: no state directory).
type uploadTimes struct {
	mu   sync.Mutex
	path string // "": not saved (read-only)
	at   map[string]time.Time
}

type uploadsOnDisk struct {
	Remotes map[string]time.Time `json:"remotes"`
}

// load reads dir's record; a writable store saves it there. One that
// cannot be read starts afresh: it only says when, never what a remote
// holds.
func (u *uploadTimes) load(dir string, save bool, log *zap.Logger) {
	p := filepath.Join(dir, uploadsFile)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.path = ""
	if save {
		u.path = p
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var onDisk uploadsOnDisk
	if err == nil {
		err = json.Unmarshal(b, &onDisk)
	}
	if err != nil {
		log.Warn("the record of each remote's last upload is unreadable; it starts afresh", zap.String("path", p), zap.Error(err))
		return
	}
	u.at = onDisk.Remotes
}

// LastUpload returns when a delta last reached the target of this name
// from this device, as recorded in the state directory (zero: never, as
// far as it knows).
func (r *Store) LastUpload(name string) time.Time {
	u := &r.uploads
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.at[name]
}

// noteUploaded records, in memory, that a delta reached target name now;
// saveUploads writes the record once the sync's pass ends (one write a
// pass, not an fsync a delta).
func (r *Store) noteUploaded(name string) {
	u := &r.uploads
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.at == nil {
		u.at = map[string]time.Time{}
	}
	u.at[name] = time.Now().UTC()
}

// saveUploads writes the record to the state directory. Failing to save
// it fails no upload: the deltas are on the remote; only the time a later
// process shows is older.
func (r *Store) saveUploads() {
	u := &r.uploads
	u.mu.Lock() // held through the write: two targets' passes save in turn
	defer u.mu.Unlock()
	if u.path == "" {
		return
	}
	b, err := json.Marshal(uploadsOnDisk{Remotes: u.at})
	if err == nil {
		err = writeFileAtomic(u.path, b, 0o600)
	}
	if err != nil {
		r.log.Warn("saving the time of the last upload failed", zap.String("path", u.path), zap.Error(err))
	}
}
