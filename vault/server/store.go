package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DBFileName is the bbolt database inside the data directory.
const DBFileName = "vault.db"

// Store is the storage of the state machine: a bbolt file whose writes go
// through apply. On a single node it is driven directly (Apply); in a
// cluster the Raft FSM drives it with committed log entries. Concurrent
// Apply calls share one fsync through bbolt's group commit (DB.Batch).
type Store struct {
	// mu guards db against the swap done by a Raft snapshot restore.
	mu          sync.RWMutex
	db          *bolt.DB
	path        string
	maxAttempts int
}

// OpenStore opens (creating if needed) the database in dir.
func OpenStore(dir string, maxAttempts int) (*Store, error) {
	if maxAttempts < 1 {
		return nil, fmt.Errorf("vault max attempts must be at least 1, got %d", maxAttempts)
	}
	path := filepath.Join(dir, DBFileName)
	db, err := openBolt(path)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, path: path, maxAttempts: maxAttempts}, nil
}

func openBolt(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("vault database %s is in use by another process; stop the other vault first", path)
	}
	if err != nil {
		return nil, fmt.Errorf("opening vault database %s: %w", path, err)
	}
	// A short delay is enough to gather concurrent attempts into one commit
	// without making a lone login wait noticeably.
	db.MaxBatchDelay = 2 * time.Millisecond
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketAccounts, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialising vault database %s: %w", path, err)
	}
	return db, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Close()
}

// Apply runs one command durably: it returns only after the change is
// committed and synced to disk.
func (s *Store) Apply(ctx context.Context, cmd Command) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var res Result
	err := s.db.Batch(func(tx *bolt.Tx) error {
		// Batch may run this more than once; only the last run's result counts.
		r, err := apply(tx, s.maxAttempts, cmd)
		res = r
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("vault storage: %w", err)
	}
	return res, nil
}

// readHead answers an OpHead read from the database. On a single node
// every Apply has returned only once committed here, so the database
// already holds each one that finished before this call.
func (s *Store) readHead(ctx context.Context, cmd Command) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	return s.localHead(cmd)
}

// localHead answers an OpHead read from this database as it stands.
func (s *Store) localHead(cmd Command) (Result, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var res Result
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		res, err = readHead(tx, cmd)
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("vault storage: %w", err)
	}
	return res, nil
}

// view returns a copy of the state of one account, for read-only checks
// that an authoritative Apply repeats.
func (s *Store) view(account [32]byte) (accountState, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var st accountState
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		st, found, err = loadState(tx.Bucket(bucketAccounts), account[:])
		return err
	})
	return st, found, err
}

// eachAccount calls fn with every row of the accounts bucket (accounts,
// ghosts, shadow rows), in one read transaction.
func (s *Store) eachAccount(fn func(id [32]byte, st accountState) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
			var st accountState
			if len(k) != 32 {
				return nil
			}
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("vault account record is corrupt: %w", err)
			}
			return fn([32]byte(k), st)
		})
	})
}

// meta returns a copy of the sealed server secret name, or nil.
func (s *Store) meta(name string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var sealed []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get([]byte(name)); v != nil {
			sealed = append([]byte(nil), v...)
		}
		return nil
	})
	return sealed, err
}

// inUse reports whether the database holds any account or server secret.
func (s *Store) inUse() (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	used := false
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketAccounts, bucketMeta} {
			if k, _ := tx.Bucket(b).Cursor().First(); k != nil {
				used = true
			}
		}
		return nil
	})
	return used, err
}

// stateMachine is the vault's state as the server sees it: the single-node
// Store, or a Raft node in front of one.
type stateMachine interface {
	// Apply runs a state change durably (in a cluster: committed on a quorum).
	Apply(ctx context.Context, cmd Command) (Result, error)
	// readHead answers an OpHead read (Next nil) without a log entry,
	// as of a state that holds every change committed before the call.
	readHead(ctx context.Context, cmd Command) (Result, error)
	// localHead answers it from this node's copy, which in a cluster may
	// be behind the log: for checks that a log entry repeats.
	localHead(cmd Command) (Result, error)
	view(account [32]byte) (accountState, bool, error)
	meta(name string) ([]byte, error)
	metaPrefix(p string) (map[string][]byte, error)
	Close() error
}

// metaSecret returns the server secret stored sealed under name, creating
// it with gen on first use. Creation goes through the state machine, so in
// a cluster the first proposal wins and every node uses the same secret.
// ad binds the sealed value to its name.
func metaSecret(ctx context.Context, sm stateMachine, mk MasterKey, name string, gen func() ([]byte, error)) ([]byte, error) {
	ad := []byte("chatsafe-vault/meta/" + name)
	sealed, err := sm.meta(name)
	if err != nil {
		return nil, err
	}
	if sealed == nil {
		pt, err := gen()
		if err != nil {
			return nil, err
		}
		fresh, err := mk.Seal(pt, ad)
		clear(pt)
		if err != nil {
			return nil, err
		}
		res, err := sm.Apply(ctx, Command{Op: OpInitMeta, Name: name, Sealed: fresh})
		if err != nil {
			return nil, fmt.Errorf("storing vault secret %q: %w", name, err)
		}
		sealed = res.Sealed
	}
	pt, err := mk.Open(sealed, ad)
	if err != nil {
		return nil, fmt.Errorf("vault secret %q: %w", name, err)
	}
	return pt, nil
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}
