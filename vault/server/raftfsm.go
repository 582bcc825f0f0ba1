package server

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// raftFSM drives the Store with committed Raft log entries. The index of the
// last applied entry is written in the same bbolt transaction as the entries'
// effects, so after a restart raft can replay its log over the database and
// entries already applied are skipped: state and index never disagree.
type raftFSM struct {
	st  *Store
	log *zap.Logger
	// failed is set when a batch could not be committed to disk; from then
	// on nothing more is applied (applying later entries over a gap would
	// diverge from the other replicas) until a restart replays the log.
	mu     sync.Mutex
	failed error

	// applied is the last applied index; advanced is closed and replaced
	// whenever it grows (for waitApplied).
	appliedMu sync.Mutex
	applied   uint64
	advanced  chan struct{}

	// logs is raft's log store, to tell a gap from entries that never
	// reach the FSM (no-ops, barriers).
	logs raft.LogStore
	// restoring is the index of the snapshot raft is about to restore
	// (set by snapshotStore.Open, read by Restore).
	restoring atomic.Uint64

	window      uint64 // request-id window (dedup.go); 0 is dedupWindow
	beforeApply func() // tests: called before each batch
}

// dedupWindow is how many log entries this state machine remembers a
// request id for.
func (f *raftFSM) dedupWindow() uint64 {
	if f.window != 0 {
		return f.window
	}
	return dedupWindow
}

// snapshotStore tells the FSM which snapshot raft opens, so that Restore
// knows the raft index the restored database stands at.
type snapshotStore struct {
	raft.SnapshotStore
	fsm *raftFSM
}

func (s *snapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, rc, err := s.SnapshotStore.Open(id)
	if err == nil {
		s.fsm.restoring.Store(meta.Index)
	}
	return meta, rc, err
}

func (f *raftFSM) setApplied(idx uint64) {
	f.appliedMu.Lock()
	defer f.appliedMu.Unlock()
	if idx <= f.applied && f.advanced != nil {
		return
	}
	f.applied = idx
	if f.advanced != nil {
		close(f.advanced)
	}
	f.advanced = make(chan struct{})
}

// appliedNow is the index of the last entry applied here.
func (f *raftFSM) appliedNow() uint64 {
	f.appliedMu.Lock()
	defer f.appliedMu.Unlock()
	return f.applied
}

// waitApplied waits until the entries up to idx are in this node's database.
func (f *raftFSM) waitApplied(ctx context.Context, idx uint64) error {
	for {
		f.appliedMu.Lock()
		done, ch := f.applied >= idx, f.advanced
		f.appliedMu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

var keyAppliedIndex = []byte("raft_applied_index")

var (
	_ raft.BatchingFSM = (*raftFSM)(nil)
	_ raft.FSMSnapshot = (*boltSnapshot)(nil)
)

// Apply applies one committed entry.
func (f *raftFSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies committed entries in one bbolt transaction (one fsync
// for the whole batch). Each response is a Result or an error.
func (f *raftFSM) ApplyBatch(logs []*raft.Log) []any {
	if f.beforeApply != nil {
		f.beforeApply()
	}
	out := make([]any, len(logs))
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed != nil {
		for i := range out {
			out[i] = f.failed
		}
		return out
	}
	f.st.mu.RLock()
	defer f.st.mu.RUnlock()
	var last uint64
	err := f.st.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		applied := appliedIndex(meta)
		last = applied
		for i, l := range logs {
			if l.Index <= applied {
				continue // replayed after a restart: already in the database
			}
			if err := f.checkGap(last, l.Index); err != nil {
				return err
			}
			last = l.Index
			if l.Type != raft.LogCommand {
				continue
			}
			var cmd Command
			if err := json.Unmarshal(l.Data, &cmd); err != nil {
				out[i] = fmt.Errorf("vault log entry %d is malformed: %w", l.Index, err)
				continue
			}
			// apply checks its input before writing, so a refused command
			// leaves the transaction clean for the rest of the batch, on
			// every replica alike.
			res, err := applyOnce(tx, f.st.maxAttempts, f.dedupWindow(), l.Index, cmd)
			if err != nil {
				out[i] = err
				continue
			}
			out[i] = res
		}
		if last == applied {
			return nil
		}
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], last)
		return meta.Put(keyAppliedIndex, b[:])
	})
	if err != nil {
		f.failed = fmt.Errorf("vault storage failed while applying the replicated log (%w); restart this node, it replays the log", err)
		f.log.Error("vault: applying the Raft log failed; this node stops applying until restarted", zap.Error(err))
		for i := range out {
			out[i] = f.failed
		}
		return out
	}
	f.setApplied(last)
	return out
}

// errGap is a log entry that would be applied over missing ones.
var errGap = errors.New("the vault database is behind the replicated log")

// checkGap refuses to apply entry next over a database that stands at
// last unless every entry between them is one raft never hands to the FSM
// (a no-op or barrier). A missing entry means it was compacted into a
// snapshot this database never got.
func (f *raftFSM) checkGap(last, next uint64) error {
	if next <= last+1 || f.logs == nil {
		return nil
	}
	for i := last + 1; i < next; i++ {
		var l raft.Log
		if err := f.logs.GetLog(i, &l); err != nil {
			return fmt.Errorf("%w: entry %d is missing before entry %d (restart the node: it rebuilds the database from its raft snapshot; if that fails, move DIR/vault.db and DIR/raft away and add the node again): %v", errGap, i, next, err)
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return fmt.Errorf("%w: entry %d was never applied before entry %d (restart the node to rebuild its database from the raft snapshot)", errGap, i, next)
		}
	}
	return nil
}

func appliedIndex(meta *bolt.Bucket) uint64 {
	if v := meta.Get(keyAppliedIndex); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Snapshot captures the database in a read transaction; Persist copies it
// while the FSM goes on applying entries.
func (f *raftFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.st.mu.RLock()
	tx, err := f.st.db.Begin(false)
	if err != nil {
		f.st.mu.RUnlock()
		return nil, fmt.Errorf("vault snapshot: %w", err)
	}
	return &boltSnapshot{tx: tx, unlock: f.st.mu.RUnlock}, nil
}

// Restore replaces the database with a snapshot (a bbolt file copy, which
// holds its own applied index).
func (f *raftFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp := f.st.path + ".restore"
	if err := writeRestoreFile(tmp, rc); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("vault snapshot restore: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.mu.Lock()
	defer f.st.mu.Unlock()
	if err := f.st.db.Close(); err != nil {
		return fmt.Errorf("vault snapshot restore: closing the database: %w", err)
	}
	if err := os.Rename(tmp, f.st.path); err != nil {
		return fmt.Errorf("vault snapshot restore: %w", err)
	}
	// Without this a crash could bring the old database back while raft
	// counts the snapshot as installed.
	if err := syncDir(filepath.Dir(f.st.path)); err != nil {
		return fmt.Errorf("vault snapshot restore: %w", err)
	}
	db, err := openBolt(f.st.path)
	if err != nil {
		f.failed = fmt.Errorf("vault snapshot restore: %w", err)
		return f.failed
	}
	f.st.db = db
	f.failed = nil
	idx, err := f.markRestored(db, f.restoring.Swap(0))
	if err != nil {
		return fmt.Errorf("vault snapshot restore: %w", err)
	}
	f.setApplied(idx)
	return nil
}

// markRestored records that the restored database stands at raft index
// snap (the snapshot's), which can be past the last entry its content
// applied when no-ops followed it, so the next entry is no gap.
func (f *raftFSM) markRestored(db *bolt.DB, snap uint64) (uint64, error) {
	var idx uint64
	err := db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		idx = appliedIndex(meta)
		if snap <= idx {
			return nil
		}
		idx = snap
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], idx)
		return meta.Put(keyAppliedIndex, b[:])
	})
	return idx, err
}

func writeRestoreFile(path string, r io.Reader) error {
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(fh, r); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

type boltSnapshot struct {
	tx     *bolt.Tx
	once   sync.Once
	unlock func()
}

func (s *boltSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.tx.WriteTo(sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("vault snapshot: %w", err)
	}
	return sink.Close()
}

func (s *boltSnapshot) Release() {
	s.once.Do(func() {
		_ = s.tx.Rollback()
		s.unlock()
	})
}
