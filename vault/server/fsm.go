package server

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The vault's state is a deterministic state machine: a Command goes in, a
// Result comes out, and the only state is what apply reads and writes in
// one bbolt transaction. Nothing in apply reads the clock, draws randomness
// or touches a secret in the clear: commands carry account ids (keyed
// hashes), owner-token hashes and already-sealed blobs. That is what lets
// the replicated vault put every command in a Raft log and apply it on every
// node with the same outcome.

// Op names a state change.
type Op uint8

// State changes. Their numbers are part of the log format; never renumber.
const (
	// OpRegister creates an account or replaces it (password change). An
	// account that has an owner hash is only replaced when the command's
	// owner hash matches.
	OpRegister Op = 1
	// OpAttempt counts one login attempt before KE2 is sent. At the limit it
	// erases instead. Unknown account ids get a counter too ("ghost"), so
	// unknown and known accounts behave alike.
	OpAttempt Op = 2
	// OpSuccess resets the counter after a valid KE3 and returns the sealed
	// secrets, if the record is still the one the session was opened on.
	OpSuccess Op = 3
	// OpFail ends a session without success (bad KE3, abort or expiry). If
	// that session spent the last allowed attempt, the record is erased now.
	OpFail Op = 4
	// OpDelete removes an account whose owner hash matches.
	OpDelete Op = 5
	// OpSweep erases every record whose attempts are spent and that has no
	// session that could still succeed (used at start-up, when no session
	// survives). With Node set, only the records whose last allowed
	// attempt was counted for a session on that node (a restarted cluster
	// node: other nodes may still hold live sessions).
	OpSweep Op = 6
	// OpInitMeta stores a sealed server secret (Name) unless one is already
	// stored; the Result carries the stored one. The first node to propose
	// a secret wins, so every replica ends up with the same secrets.
	OpInitMeta Op = 7
)

// Command is one state change. It is JSON-encoded in a Raft log entry, so
// it never holds a secret in the clear.
type Command struct {
	Op         Op       `json:"op"`
	Account    [32]byte `json:"account,omitempty"`    // keyed hash of the account name
	Generation uint64   `json:"generation,omitempty"` // OpSuccess/OpFail: the record the session was opened on
	OwnerHash  []byte   `json:"owner_hash,omitempty"` // OpRegister/OpDelete: SHA-256 of the presented owner token
	Sealed     []byte   `json:"sealed,omitempty"`     // OpRegister: account secrets sealed by the master key; OpInitMeta: the sealed secret
	Node       string   `json:"node,omitempty"`       // OpAttempt: the node holding the session; OpSweep: sweep that node's records only
	Name       string   `json:"name,omitempty"`       // OpInitMeta: which secret
}

// Status is the outcome of a command.
type Status uint8

// Outcomes.
const (
	StatusOK       Status = iota
	StatusNotOwner        // owner hash mismatch
	StatusErased          // attempts exhausted; the record's secrets are gone
	StatusNotFound        // no such (real) account
	StatusStale           // the record changed since the session began
)

// Result is what a command returns.
type Result struct {
	Status     Status
	Attempts   int    // attempts spent since the last success, after the command
	Generation uint64 // the record's generation
	Ghost      bool   // OpAttempt on an account that was never registered
	Sealed     []byte // OpAttempt/OpSuccess: the sealed secrets of a real account
	Erased     int    // OpSweep: how many records were erased
}

// accountState is one account's row. Ghost rows hold only a counter.
type accountState struct {
	Generation uint64 `json:"g"`
	Attempts   int    `json:"a"`
	Ghost      bool   `json:"ghost,omitempty"`
	Erased     bool   `json:"erased,omitempty"`
	OwnerHash  []byte `json:"owner,omitempty"`
	Sealed     []byte `json:"sealed,omitempty"`
	// LastNode is the node that holds the session of the last allowed
	// attempt (set only when the limit is reached, in a cluster).
	LastNode string `json:"node,omitempty"`
}

var (
	bucketAccounts = []byte("accounts")
	bucketMeta     = []byte("meta")
)

// apply runs cmd against the state in tx. maxAttempts is part of the state
// machine's fixed configuration (equal on every replica). Logical outcomes
// are in Result; an error means storage failed and nothing was applied.
func apply(tx *bolt.Tx, maxAttempts int, cmd Command) (Result, error) {
	b := tx.Bucket(bucketAccounts)
	if b == nil {
		return Result{}, fmt.Errorf("vault database has no accounts bucket")
	}
	switch cmd.Op {
	case OpSweep:
		return sweep(b, maxAttempts, cmd.Node)
	case OpInitMeta:
		return initMeta(tx, cmd)
	}
	key := cmd.Account[:]
	st, found, err := loadState(b, key)
	if err != nil {
		return Result{}, err
	}
	put := func(s accountState) error {
		enc, err := json.Marshal(s)
		if err != nil {
			return err
		}
		return b.Put(key, enc)
	}
	owned := found && len(st.OwnerHash) > 0

	switch cmd.Op {
	case OpRegister:
		if len(cmd.OwnerHash) != 32 || len(cmd.Sealed) == 0 {
			return Result{}, fmt.Errorf("malformed register command: owner hash and sealed secrets are required")
		}
		if owned && subtle.ConstantTimeCompare(st.OwnerHash, cmd.OwnerHash) != 1 {
			return Result{Status: StatusNotOwner, Generation: st.Generation}, nil
		}
		ns := accountState{Generation: st.Generation + 1, OwnerHash: cmd.OwnerHash, Sealed: cmd.Sealed}
		if err := put(ns); err != nil {
			return Result{}, err
		}
		return Result{Status: StatusOK, Generation: ns.Generation}, nil

	case OpAttempt:
		if !found {
			st = accountState{Ghost: true}
		}
		if st.Erased {
			return Result{Status: StatusErased, Attempts: st.Attempts, Generation: st.Generation, Ghost: st.Ghost}, nil
		}
		if st.Attempts >= maxAttempts {
			st = erase(st)
			if err := put(st); err != nil {
				return Result{}, err
			}
			return Result{Status: StatusErased, Attempts: st.Attempts, Generation: st.Generation, Ghost: st.Ghost}, nil
		}
		st.Attempts++
		if st.Attempts == maxAttempts {
			st.LastNode = cmd.Node
		}
		if err := put(st); err != nil {
			return Result{}, err
		}
		return Result{Status: StatusOK, Attempts: st.Attempts, Generation: st.Generation, Ghost: st.Ghost, Sealed: st.Sealed}, nil

	case OpSuccess:
		switch {
		case !found || st.Ghost:
			return Result{Status: StatusNotFound}, nil
		case st.Erased:
			return Result{Status: StatusErased, Attempts: st.Attempts, Generation: st.Generation}, nil
		case st.Generation != cmd.Generation:
			return Result{Status: StatusStale, Attempts: st.Attempts, Generation: st.Generation}, nil
		}
		st.Attempts = 0
		if err := put(st); err != nil {
			return Result{}, err
		}
		return Result{Status: StatusOK, Generation: st.Generation, Sealed: st.Sealed}, nil

	case OpFail:
		if !found || st.Erased || st.Generation != cmd.Generation || st.Attempts < maxAttempts {
			return Result{Status: StatusOK, Attempts: st.Attempts, Generation: st.Generation, Ghost: st.Ghost}, nil
		}
		st = erase(st)
		if err := put(st); err != nil {
			return Result{}, err
		}
		return Result{Status: StatusErased, Attempts: st.Attempts, Generation: st.Generation, Ghost: st.Ghost}, nil

	case OpDelete:
		if !owned {
			return Result{Status: StatusNotFound}, nil
		}
		if subtle.ConstantTimeCompare(st.OwnerHash, cmd.OwnerHash) != 1 {
			return Result{Status: StatusNotOwner}, nil
		}
		if err := b.Delete(key); err != nil {
			return Result{}, err
		}
		return Result{Status: StatusOK}, nil
	}
	return Result{}, fmt.Errorf("unknown vault command %d", cmd.Op)
}

// erase destroys a record's secrets for good. The owner hash stays, so the
// owner (who still has the backup key via the recovery key) can register a
// new password and nobody else can take the name.
func erase(st accountState) accountState {
	st.Erased = true
	st.Sealed = nil
	return st
}

func initMeta(tx *bolt.Tx, cmd Command) (Result, error) {
	b := tx.Bucket(bucketMeta)
	if b == nil {
		return Result{}, fmt.Errorf("vault database has no meta bucket")
	}
	if cmd.Name == "" || len(cmd.Sealed) == 0 {
		return Result{}, fmt.Errorf("malformed meta command: name and sealed secret are required")
	}
	if v := b.Get([]byte(cmd.Name)); v != nil {
		return Result{Status: StatusOK, Sealed: append([]byte(nil), v...)}, nil
	}
	if err := b.Put([]byte(cmd.Name), cmd.Sealed); err != nil {
		return Result{}, err
	}
	return Result{Status: StatusOK, Sealed: cmd.Sealed}, nil
}

func sweep(b *bolt.Bucket, maxAttempts int, node string) (Result, error) {
	var keys [][]byte
	var states []accountState
	err := b.ForEach(func(k, v []byte) error {
		var st accountState
		if err := json.Unmarshal(v, &st); err != nil {
			return fmt.Errorf("vault account record is corrupt: %w", err)
		}
		if !st.Erased && st.Attempts >= maxAttempts && (node == "" || st.LastNode == node) {
			keys = append(keys, append([]byte(nil), k...))
			states = append(states, erase(st))
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	for i, k := range keys {
		enc, err := json.Marshal(states[i])
		if err != nil {
			return Result{}, err
		}
		if err := b.Put(k, enc); err != nil {
			return Result{}, err
		}
	}
	return Result{Status: StatusOK, Erased: len(keys)}, nil
}

func loadState(b *bolt.Bucket, key []byte) (accountState, bool, error) {
	v := b.Get(key)
	if v == nil {
		return accountState{}, false, nil
	}
	var st accountState
	if err := json.Unmarshal(v, &st); err != nil {
		return accountState{}, false, fmt.Errorf("vault account record is corrupt: %w", err)
	}
	return st, true, nil
}
