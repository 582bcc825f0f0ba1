package store

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/internal/flock"
)

// localState is what this device remembers about the repository between
// runs. SeenSeq is the rollback guard: the newest sequence number this
// device has seen, committed or uploaded.
type localState struct {
	RepoID  string `json:"repo_id"`
	SeenSeq uint64 `json:"seen_seq"`
	// SeenID is the id (hex) of the head this device saw at SeenSeq: the
	// next head must descend from it, or the history forked.
	SeenID string `json:"seen_id,omitempty"`
	// WriterSeq is the newest delta this device wrote (or took over at):
	// a newer head of another device means it is no longer the writer.
	WriterSeq uint64 `json:"writer_seq,omitempty"`
	// TakenOver, once set, stops this device writing until `takeover`.
	TakenOver *takenOverState `json:"taken_over,omitempty"`
	// OfflineFrom, when set, is the first sequence committed while the
	// first remote could not be listed: nothing from it on is uploaded
	// before confirmOffline checked it (offline.go).
	OfflineFrom uint64 `json:"offline_from,omitempty"`
	// Holders are the remotes this device read the repository's config
	// from or put it on (holders.go): one of them without it is the
	// repository gone, never a new remote to fill.
	Holders []string `json:"holders,omitempty"`
	// HoldersUnknown: the state was written by a chatsafe that kept no
	// Holders, so an empty remote may be one that lost the repository
	// (mayFill); cleared once every target is recorded.
	HoldersUnknown bool `json:"holders_unknown,omitempty"`
	path           string
}

func loadState(dir string, repoID [16]byte, log *zap.Logger) localState {
	st := localState{path: filepath.Join(dir, "state.json")}
	b, err := os.ReadFile(st.path)
	if errors.Is(err, os.ErrNotExist) {
		return st
	}
	var onDisk localState
	if err == nil {
		err = json.Unmarshal(b, &onDisk)
	}
	if err != nil || onDisk.RepoID != hex.EncodeToString(repoID[:]) {
		// A damaged state file is rebuilt from the remote; we lose only
		// the rollback guard until the next backup.
		log.Warn("local repository state is unreadable; rebuilding it from the remote", zap.String("path", st.path), zap.Error(err))
		return st
	}
	st.SeenSeq, st.SeenID, st.WriterSeq, st.TakenOver = onDisk.SeenSeq, onDisk.SeenID, onDisk.WriterSeq, onDisk.TakenOver
	st.OfflineFrom, st.Holders = onDisk.OfflineFrom, onDisk.Holders
	st.HoldersUnknown = onDisk.HoldersUnknown || (onDisk.Holders == nil && onDisk.SeenSeq > 0)
	return st
}

// openState readies the repository's state directory, once its config is
// known: a writable open creates it, locks it and removes a crash's
// partial files; then the local state is read (and the record of each
// remote's last upload, lastupload.go).
func (r *Store) openState() error {
	if r.opts.StateDir == "" {
		return nil
	}
	// A read-only open creates, removes and changes nothing in the
	// state directory: it may run beside the writer that owns it.
	if !r.opts.ReadOnly {
		if err := os.MkdirAll(r.dir(), 0o700); err != nil {
			return fmt.Errorf("creating the state directory: %w", err)
		}
		var err error
		if r.lock, err = lockState(r.dir(), r.opts.ConfigFlag); err != nil {
			return err
		}
		r.removePartials()
	}
	r.state = loadState(r.dir(), r.cfg.RepoID, r.log)
	r.uploads.load(r.dir(), !r.opts.ReadOnly, r.log)
	return nil
}

func (r *Store) noteSeen(d *delta) error {
	seq, id := d.ref.Seq, hex.EncodeToString(d.ref.ID[:])
	if seq < r.state.SeenSeq || (seq == r.state.SeenSeq && id == r.state.SeenID && r.state.RepoID != "") {
		return nil
	}
	r.state.SeenSeq, r.state.SeenID = seq, id
	return r.saveState()
}

// saveState writes the local state (not with a read-only store or none).
func (r *Store) saveState() error {
	r.state.RepoID = r.ID()
	if r.dir() == "" || r.opts.ReadOnly {
		return nil
	}
	b, _ := json.Marshal(r.state)
	if err := writeFileAtomic(r.state.path, b, 0o600); err != nil {
		return fmt.Errorf("saving repository state: %w", err)
	}
	return nil
}

// writeFileAtomic writes data to path so that a crash leaves either the
// old or the new content: temp file, fsync, rename, fsync the directory.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return writeFileAtomicFrom(path, mode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeFileAtomicFrom is writeFileAtomic for content that write produces.
func writeFileAtomicFrom(path string, mode os.FileMode, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// stateLock is an exclusive flock on a repository's state directory, so
// two writers (two daemons, or a daemon and a CLI backup) never share a
// spool.
type stateLock struct{ f *os.File }

// StateLock is the lock on a whole state directory (its "lock" file),
// which every writable Open takes before it reads the remote. The daemon
// takes it when it starts (LockStateDir) and hands it to Open through
// Options.StateLock, so it holds it while its remote is out of reach and
// no command that writes runs beside it meanwhile.
type StateLock struct{ l *stateLock }

// LockStateDir takes the state directory's lock (creating the
// directory), or fails with ErrLocked when another process holds it; its
// message names the commands with configFlag (Options.ConfigFlag).
func LockStateDir(stateDir, configFlag string) (*StateLock, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the state directory: %w", err)
	}
	l, err := lockState(stateDir, configFlag)
	if err != nil {
		return nil, err
	}
	return &StateLock{l: l}, nil
}

// Release lets the state directory go.
func (l *StateLock) Release() { l.l.release() }

// ErrLocked means another chatsafe process holds the state directory.
var ErrLocked = errors.New("another chatsafe process is using this state directory")

func lockState(dir, configFlag string) (*stateLock, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the state lock: %w", err)
	}
	if err := flock.TryLock(f); err != nil {
		f.Close()
		if errors.Is(err, flock.ErrLocked) {
			return nil, fmt.Errorf("%w (%s): is the daemon running? Use `chatsafe status%s`, or stop it first", ErrLocked, dir, configFlag)
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return &stateLock{f: f}, nil
}

func (l *stateLock) release() {
	flock.Unlock(l.f)
	l.f.Close()
}

// spoolFile is a complete delta in the spool: its file, its object name
// ("deltas/<seq>-<id>") and what that name says.
type spoolFile struct {
	path string
	name string
	seq  uint64
	id   [16]byte
	size int64
}

// removePartials removes the spool's partial files, a crash's leftovers:
// only as a writable open starts, the state directory locked, when no
// Writer of this store can be writing one.
func (r *Store) removePartials() {
	ents, err := os.ReadDir(r.spoolDir())
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".partial") {
			removeQuiet(filepath.Join(r.spoolDir(), e.Name()))
		}
	}
}

// spooled lists complete deltas in the spool, ascending by sequence. It
// removes nothing: a partial file may be a running backup's delta.
func (r *Store) spooled() []spoolFile {
	if r.dir() == "" {
		return nil
	}
	ents, err := os.ReadDir(r.spoolDir())
	if err != nil {
		return nil
	}
	var out []spoolFile
	for _, e := range ents {
		name := deltaDir + "/" + e.Name()
		seq, id, ok := parseDeltaName(name)
		if !ok {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, spoolFile{path: filepath.Join(r.spoolDir(), e.Name()), name: name, seq: seq, id: id, size: fi.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func removeQuiet(p string) { _ = os.Remove(p) }
