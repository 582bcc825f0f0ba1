package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/chatsafe/chatsafe/vault"
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
	// OpExpire deletes ghost and shadow rows (names nobody registered, and
	// logins without an account's handle) not tried for TTL ms before
	// Now, so that tried names do not pile up for good.
	OpExpire Op = 8
	// OpHead moves an account's head record from Prev to Next
	// (compare-and-swap), if the owner hash and handle hash match the
	// account's (headfsm.go). Entries with Next nil (reads, from before
	// reads were served without the log) still replay as reads. Numbered apart from the login ops
	// so that parallel work on those does not collide with it.
	OpHead Op = 16
)

// Command is one state change. It is JSON-encoded in a Raft log entry, so
// it never holds a secret in the clear.
type Command struct {
	Op         Op       `json:"op"`
	Account    [32]byte `json:"account,omitempty"`    // keyed hash of the account name
	Generation uint64   `json:"generation,omitempty"` // OpSuccess/OpFail: the record the session was opened on
	OwnerHash  []byte   `json:"owner_hash,omitempty"` // OpRegister/OpDelete: SHA-256 of the presented owner token
	// OpRegister: SHA-256 of the owner token to store instead of OwnerHash
	// (a key rotation); none: OwnerHash is stored.
	NewOwnerHash []byte `json:"new_owner_hash,omitempty"`
	Sealed       []byte `json:"sealed,omitempty"` // OpRegister: account secrets sealed by the master key; OpInitMeta: the sealed secret
	Node         string `json:"node,omitempty"`   // OpAttempt: the node holding the session; OpSweep: sweep that node's records only
	Name         string `json:"name,omitempty"`   // OpInitMeta: which secret
	// OpRegister: SHA-256 of the account's new handle (none: an account
	// anyone may log in to). OpAttempt: of the handle the login showed.
	HandleHash []byte `json:"handle,omitempty"`
	// OpAttempt: the proposing node's clock (Unix ms) and the delay a
	// failure costs after the free ones (ms). The state machine reads no
	// clock of its own, so every replica decides alike.
	Now       int64 `json:"now,omitempty"`
	DelayBase int64 `json:"delay,omitempty"`
	TTL       int64 `json:"ttl,omitempty"` // OpExpire, ms
	// OpHead: the head the advance starts from, and the new one.
	Prev *vault.HeadRecord `json:"prev,omitempty"`
	Next *vault.HeadRecord `json:"next,omitempty"`
	// Blind is, for OpAttempt, the SHA-256 of the threshold OPRF's blinded
	// element this attempt is for: the only element any node evaluates
	// its share on for it (docs/vault.md, "Threshold OPRF").
	Blind []byte `json:"blind,omitempty"`
	// Reuse, for OpAttempt, takes a Blind the row already counted as that
	// attempt (a client retrying a login whose answer was lost): nothing
	// is counted, no delay applies, Result.Replay says so. Unset (entries
	// from before it), every attempt counts.
	Reuse bool `json:"reuse,omitempty"`
	// Req is the request id (16 random bytes, set by the node that first
	// proposes the change, kept when it sends it again): the replicated
	// state machine applies a request id once (dedup.go). Since is a log
	// index committed before the first copy was sent (since.go). Neither
	// is set on a single node.
	Req   []byte `json:"req,omitempty"`
	Since uint64 `json:"since,omitempty"`
}

// Status is the outcome of a command.
type Status uint8

// Outcomes.
const (
	StatusOK        Status = iota
	StatusNotOwner         // owner hash mismatch
	StatusErased           // attempts exhausted; the record's secrets are gone
	StatusNotFound         // no such (real) account
	StatusStale            // the record changed since the session began
	StatusTooSoon          // OpAttempt before the failure delay has passed; Result.Wait says how long
	StatusHeadMoved        // OpHead: Prev is not the recorded head; Result.Head is
)

// FreeFailures is how many wrong passwords cost no delay; each one after
// costs twice the one before, starting at the delay base.
const FreeFailures = 3

// maxDelay caps the failure delay.
const maxDelay = int64(24 * 60 * 60 * 1000)

// Result is what a command returns.
type Result struct {
	Status     Status
	Attempts   int    // attempts spent since the last success, after the command
	Generation uint64 // the record's generation
	Ghost      bool   // OpAttempt on an account that was never registered
	Sealed     []byte // OpAttempt/OpSuccess: the sealed secrets of a real account
	Erased     int    // OpSweep: how many records were erased
	Wait       int64  // StatusTooSoon: milliseconds until an attempt is taken
	// Row is the row OpAttempt counted on: the account's, or its shadow
	// row for a login without the account's handle. OpFail names it.
	Row [32]byte
	// Head is OpHead's recorded head, after the command; Attempts and
	// KeyErased are then the account's counter and erasure, which the
	// owner is told (vault.HeadAccount).
	Head      vault.HeadRecord
	KeyErased bool
	// Index is the raft index the command was committed at (0 on a
	// single node): other nodes evaluate once they have applied it.
	Index uint64
	// Replay: OpAttempt took an attempt the row had counted already
	// (Command.Reuse) and counted nothing.
	Replay bool
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
	// HandleHash is the SHA-256 of the account's handle; a login that does
	// not show it counts on the account's shadow row instead.
	HandleHash []byte `json:"handle,omitempty"`
	// NotBefore (Unix ms, proposer's clock) is when the next attempt is
	// taken, after failures beyond the free ones.
	NotBefore int64 `json:"nb,omitempty"`
	// Seen (Unix ms, proposer's clock) is a ghost row's last attempt;
	// OpExpire deletes ghost rows unseen for a while.
	Seen int64 `json:"seen,omitempty"`
	// Blinds are the hashes of the blinded elements of the latest counted
	// attempts (at most maxBlinds), the ones nodes may evaluate.
	Blinds [][]byte `json:"blinds,omitempty"`
}

// maxBlinds is how many counted attempts' blinded elements a row keeps
// evaluable: a few, so concurrent logins of one account do not push each
// other out before their second share is asked for.
const maxBlinds = 16

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
	case OpExpire:
		return expireGhosts(b, cmd)
	case OpRegister:
		return applyRegister(b, cmd)
	case OpAttempt:
		return applyAttempt(b, maxAttempts, cmd)
	case OpSuccess:
		return applySuccess(b, cmd)
	case OpFail:
		return applyFail(b, maxAttempts, cmd)
	case OpDelete:
		return applyDelete(tx, b, cmd)
	case OpHead:
		return applyHead(tx, cmd)
	}
	return Result{}, fmt.Errorf("unknown vault command %d", cmd.Op)
}

func putState(b *bolt.Bucket, key []byte, s accountState) error {
	enc, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return b.Put(key, enc)
}

func applyRegister(b *bolt.Bucket, cmd Command) (Result, error) {
	if len(cmd.OwnerHash) != 32 || len(cmd.Sealed) == 0 || (len(cmd.HandleHash) != 0 && len(cmd.HandleHash) != 32) || (len(cmd.NewOwnerHash) != 0 && len(cmd.NewOwnerHash) != 32) {
		return Result{}, fmt.Errorf("malformed register command: owner hash and sealed secrets are required")
	}
	st, found, err := loadState(b, cmd.Account[:])
	if err != nil {
		return Result{}, err
	}
	if found && len(st.OwnerHash) > 0 && subtle.ConstantTimeCompare(st.OwnerHash, cmd.OwnerHash) != 1 {
		return Result{Status: StatusNotOwner, Generation: st.Generation}, nil
	}
	owner := cmd.OwnerHash
	if len(cmd.NewOwnerHash) != 0 {
		// The presented owner authorised; the new one owns the account
		// (and so its head record) from now on.
		owner = cmd.NewOwnerHash
	}
	ns := accountState{Generation: st.Generation + 1, OwnerHash: owner, Sealed: cmd.Sealed, HandleHash: cmd.HandleHash}
	if err := putState(b, cmd.Account[:], ns); err != nil {
		return Result{}, err
	}
	// A new handle starts the shadow row afresh.
	if err := b.Delete(shadowKey(cmd.Account)); err != nil {
		return Result{}, err
	}
	return Result{Status: StatusOK, Generation: ns.Generation}, nil
}

// shadowKey is the row that counts the logins to an account that did not
// show its handle: a ghost of its own, so that such a login is answered
// exactly like one for an unknown name and spends none of the owner's
// attempts.
func shadowKey(account [32]byte) []byte {
	h := sha256.Sum256(append([]byte("chatsafe-vault/shadow/v1/"), account[:]...))
	return h[:]
}

func applyAttempt(b *bolt.Bucket, maxAttempts int, cmd Command) (Result, error) {
	key := cmd.Account[:]
	st, found, err := loadState(b, key)
	if err != nil {
		return Result{}, err
	}
	if found && !st.Ghost && len(st.HandleHash) > 0 && subtle.ConstantTimeCompare(st.HandleHash, cmd.HandleHash) != 1 {
		key = shadowKey(cmd.Account)
		if st, found, err = loadState(b, key); err != nil {
			return Result{}, err
		}
	}
	if !found {
		st = accountState{Ghost: true}
	}
	if st.Ghost && cmd.Now > st.Seen {
		st.Seen = cmd.Now
		if found && (st.Erased || st.Attempts >= maxAttempts) {
			// Keep an erased ghost from expiring while it is being tried.
			if err := putState(b, key, st); err != nil {
				return Result{}, err
			}
		}
	}
	if st.Erased {
		return Result{Status: StatusErased, Attempts: st.Attempts, Generation: st.Generation, Ghost: st.Ghost}, nil
	}
	if cmd.Reuse && len(cmd.Blind) == 32 && slices.ContainsFunc(st.Blinds, func(h []byte) bool { return equalHash(h, cmd.Blind) }) {
		// The same attempt again, before the limit and the delay are
		// looked at: the limit-th attempt's retry must not erase, and
		// the delay it set is for the next one. The row is written as a
		// counted attempt's is, so both take the same work.
		if err := putState(b, key, st); err != nil {
			return Result{}, err
		}
		return Result{Status: StatusOK, Attempts: st.Attempts, Generation: st.Generation, Ghost: st.Ghost, Sealed: st.Sealed, Row: [32]byte(key), Replay: true}, nil
	}
	if st.Attempts >= maxAttempts {
		st = erase(st)
		if err := putState(b, key, st); err != nil {
			return Result{}, err
		}
		return Result{Status: StatusErased, Attempts: st.Attempts, Generation: st.Generation, Ghost: st.Ghost}, nil
	}
	if cmd.Now < st.NotBefore {
		return Result{Status: StatusTooSoon, Attempts: st.Attempts, Generation: st.Generation, Ghost: st.Ghost, Wait: st.NotBefore - cmd.Now}, nil
	}
	st.Attempts++
	if st.Attempts == maxAttempts {
		st.LastNode = cmd.Node
	}
	st.NotBefore = 0
	if len(cmd.Blind) == 32 {
		st.Blinds = append(st.Blinds, cmd.Blind)
		if len(st.Blinds) > maxBlinds {
			st.Blinds = st.Blinds[len(st.Blinds)-maxBlinds:]
		}
	}
	if d := failureDelay(st.Attempts, cmd.DelayBase); d > 0 {
		st.NotBefore = cmd.Now + d
	}
	if err := putState(b, key, st); err != nil {
		return Result{}, err
	}
	return Result{Status: StatusOK, Attempts: st.Attempts, Generation: st.Generation, Ghost: st.Ghost, Sealed: st.Sealed, Row: [32]byte(key)}, nil
}

// failureDelay is the wait (ms) before the attempt after the n-th counted
// one: none for the first FreeFailures, then base, 2·base, 4·base, ...
func failureDelay(n int, base int64) int64 {
	if n <= FreeFailures || base <= 0 {
		return 0
	}
	d := base
	for i := FreeFailures + 1; i < n && d < maxDelay; i++ {
		d *= 2
	}
	return min(d, maxDelay)
}

func applySuccess(b *bolt.Bucket, cmd Command) (Result, error) {
	st, found, err := loadState(b, cmd.Account[:])
	if err != nil {
		return Result{}, err
	}
	switch {
	case !found || st.Ghost:
		return Result{Status: StatusNotFound}, nil
	case st.Erased:
		return Result{Status: StatusErased, Attempts: st.Attempts, Generation: st.Generation}, nil
	case st.Generation != cmd.Generation:
		return Result{Status: StatusStale, Attempts: st.Attempts, Generation: st.Generation}, nil
	}
	st.Attempts = 0
	st.NotBefore = 0
	if err := putState(b, cmd.Account[:], st); err != nil {
		return Result{}, err
	}
	return Result{Status: StatusOK, Generation: st.Generation, Sealed: st.Sealed}, nil
}

// applyFail ends a session without success. Shadow sessions (a login
// without the handle) name the shadow row by its key through Account.
func applyFail(b *bolt.Bucket, maxAttempts int, cmd Command) (Result, error) {
	key := cmd.Account[:]
	st, found, err := loadState(b, key)
	if err != nil {
		return Result{}, err
	}
	if !found || st.Erased || st.Generation != cmd.Generation || st.Attempts < maxAttempts {
		return Result{Status: StatusOK, Attempts: st.Attempts, Generation: st.Generation, Ghost: st.Ghost}, nil
	}
	st = erase(st)
	if err := putState(b, key, st); err != nil {
		return Result{}, err
	}
	return Result{Status: StatusErased, Attempts: st.Attempts, Generation: st.Generation, Ghost: st.Ghost}, nil
}

func applyDelete(tx *bolt.Tx, b *bolt.Bucket, cmd Command) (Result, error) {
	st, found, err := loadState(b, cmd.Account[:])
	if err != nil {
		return Result{}, err
	}
	if !found || len(st.OwnerHash) == 0 {
		return Result{Status: StatusNotFound}, nil
	}
	if subtle.ConstantTimeCompare(st.OwnerHash, cmd.OwnerHash) != 1 {
		return Result{Status: StatusNotOwner}, nil
	}
	if err := b.Delete(cmd.Account[:]); err != nil {
		return Result{}, err
	}
	if err := b.Delete(shadowKey(cmd.Account)); err != nil {
		return Result{}, err
	}
	if heads := tx.Bucket(bucketHeads); heads != nil {
		if err := heads.Delete(cmd.Account[:]); err != nil {
			return Result{}, err
		}
	}
	return Result{Status: StatusOK}, nil
}

// erase destroys a record's secrets for good. The owner hash stays, so the
// owner (who still has the backup key via the recovery key) can register a
// new password and nobody else can take the name.
func erase(st accountState) accountState {
	st.Erased = true
	st.Sealed = nil
	st.Blinds = nil
	return st
}

func expireGhosts(b *bolt.Bucket, cmd Command) (Result, error) {
	if cmd.TTL <= 0 {
		return Result{}, fmt.Errorf("malformed expire command: no TTL")
	}
	var old [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var st accountState
		if err := json.Unmarshal(v, &st); err != nil {
			return fmt.Errorf("vault account record is corrupt: %w", err)
		}
		if st.Ghost && st.Seen+cmd.TTL < cmd.Now {
			old = append(old, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return Result{}, err
		}
	}
	return Result{Status: StatusOK, Erased: len(old)}, nil
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
