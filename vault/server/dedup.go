package server

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/chatsafe/chatsafe/vault"
)

// A node that forwards a change to the leader, or proposes it itself, and
// gets no clear answer (the connection broke after the leader took it,
// leadership was lost before the commit, the call timed out) cannot tell
// whether the change is in the log. It sends it again, with the request
// id the first copy carried, and the state machine applies a request id
// once: a second copy answers the first one's result and changes nothing.
// Without that, a login attempt retried across an election could be
// counted twice (erasing the key early), and a retried success could
// reset a counter that wrong passwords had moved since.
//
// The ids are kept for the last dedupWindow log entries, in the database
// (so every replica, a restarted node and a snapshot agree). A copy that
// reaches the log after that window could no longer be recognised, so it
// is refused instead: each command carries a log index committed before its
// first copy was sent (Since; since.go says which and why that keeps a
// change applied once), and an entry more than dedupWindow entries past
// that is not applied.

// reqIDLen is the size of a request id.
const reqIDLen = 16

// dedupWindow is how many log entries a request id is remembered for. A
// retry comes within a node's wait for a leader (ApplyTimeout, seconds);
// at a thousand entries a second, far more than the vault is built for,
// the window is half a minute. Each id costs about 100 bytes in vault.db.
const dedupWindow = 1 << 15

var (
	bucketRequests = []byte("requests")       // request id → doneRequest (JSON)
	bucketReqOrder = []byte("requests_order") // index (8 bytes, big endian) + request id → nothing
)

// errTooLate is a command that reached the log so long after its proposer
// first sent it that an earlier copy may have been forgotten.
var errTooLate = errors.New("vault: this change waited too long for a leader to be told apart from an earlier copy of it, so it was not applied; send the request again")

// newRequestID returns a fresh request id.
func newRequestID() []byte {
	id := make([]byte, reqIDLen)
	_, _ = rand.Read(id) // crypto/rand.Read never fails (Go 1.24+)
	return id
}

// doneRequest is what a second copy of a request answers: the first copy's
// Result without the sealed secrets. Those are read again from the row,
// so that an erased record leaves no copy of its secrets behind here.
// Index is the second copy's own (raft sets it). Every other field of
// Result is carried: the handlers read them all, and Replay decides
// whether an account from before the threshold OPRF gets a session
// (TestDuplicateAnswersAsTheFirst).
type doneRequest struct {
	Status     Status            `json:"s"`
	Attempts   int               `json:"a,omitempty"`
	Generation uint64            `json:"g,omitempty"`
	Ghost      bool              `json:"gh,omitempty"`
	Erased     int               `json:"e,omitempty"`
	Wait       int64             `json:"w,omitempty"`
	Row        []byte            `json:"r,omitempty"`
	Head       *vault.HeadRecord `json:"h,omitempty"`
	KeyErased  bool              `json:"ke,omitempty"`
	Replay     bool              `json:"rp,omitempty"`
}

// applyOnce runs cmd, the log entry at index, through apply unless its
// request id was applied already (then it answers as the first time), or
// it came too late to tell.
// window is how many entries ids are kept for (dedupWindow but in tests).
func applyOnce(tx *bolt.Tx, maxAttempts int, window, index uint64, cmd Command) (Result, error) {
	if len(cmd.Req) == 0 {
		return apply(tx, maxAttempts, cmd) // a single node, or a node from before request ids
	}
	if len(cmd.Req) != reqIDLen {
		return Result{}, fmt.Errorf("malformed vault command: request id of %d bytes", len(cmd.Req))
	}
	reqs, err := tx.CreateBucketIfNotExists(bucketRequests)
	if err != nil {
		return Result{}, err
	}
	order, err := tx.CreateBucketIfNotExists(bucketReqOrder)
	if err != nil {
		return Result{}, err
	}
	if v := reqs.Get(cmd.Req); v != nil {
		return replayRequest(tx, cmd, v)
	}
	if index > cmd.Since+window {
		return Result{}, errTooLate
	}
	res, err := apply(tx, maxAttempts, cmd)
	if err != nil {
		return res, err
	}
	if err := rememberRequest(reqs, order, index, cmd, res); err != nil {
		return Result{}, err
	}
	return res, forgetRequests(reqs, order, window, index)
}

func rememberRequest(reqs, order *bolt.Bucket, index uint64, cmd Command, res Result) error {
	d := doneRequest{Status: res.Status, Attempts: res.Attempts, Generation: res.Generation, Ghost: res.Ghost, Erased: res.Erased, Wait: res.Wait, KeyErased: res.KeyErased, Replay: res.Replay}
	if res.Row != ([32]byte{}) {
		d.Row = res.Row[:]
	}
	if cmd.Op == OpHead {
		d.Head = &res.Head
	}
	enc, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := reqs.Put(cmd.Req, enc); err != nil {
		return err
	}
	return order.Put(orderKey(index, cmd.Req), nil)
}

func orderKey(index uint64, id []byte) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(id)), index)
	return append(k, id...)
}

// forgetRequests drops the ids applied more than window entries before
// index.
func forgetRequests(reqs, order *bolt.Bucket, window, index uint64) error {
	if index <= window {
		return nil
	}
	limit := index - window
	var old [][]byte
	c := order.Cursor()
	for k, _ := c.First(); len(k) > 8 && binary.BigEndian.Uint64(k) < limit; k, _ = c.Next() {
		old = append(old, append([]byte(nil), k...))
	}
	for _, k := range old {
		if err := reqs.Delete(k[8:]); err != nil {
			return err
		}
		if err := order.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// replayRequest answers a second copy of a request from the first one's
// result. The sealed secrets an attempt or a success returns come from the
// row as it is now, and only if it is still the record the first copy saw.
func replayRequest(tx *bolt.Tx, cmd Command, v []byte) (Result, error) {
	var d doneRequest
	if err := json.Unmarshal(v, &d); err != nil {
		return Result{}, fmt.Errorf("vault request record is corrupt: %w", err)
	}
	res := Result{Status: d.Status, Attempts: d.Attempts, Generation: d.Generation, Ghost: d.Ghost, Erased: d.Erased, Wait: d.Wait, KeyErased: d.KeyErased, Replay: d.Replay}
	if len(d.Row) == len(res.Row) {
		res.Row = [32]byte(d.Row)
	}
	if d.Head != nil {
		res.Head = *d.Head
	}
	if res.Status != StatusOK {
		return res, nil
	}
	switch cmd.Op {
	case OpAttempt:
		if res.Ghost {
			return res, nil
		}
		return withSealed(tx.Bucket(bucketAccounts), res.Row[:], res)
	case OpSuccess:
		return withSealed(tx.Bucket(bucketAccounts), cmd.Account[:], res)
	case OpInitMeta:
		if v := tx.Bucket(bucketMeta).Get([]byte(cmd.Name)); v != nil {
			res.Sealed = append([]byte(nil), v...)
		}
	}
	return res, nil
}

// withSealed adds the sealed secrets of the row at key to res, if the row
// is still the generation res names and not erased; otherwise the answer
// is that the record is erased, or changed (stale).
func withSealed(b *bolt.Bucket, key []byte, res Result) (Result, error) {
	st, found, err := loadState(b, key)
	if err != nil {
		return Result{}, err
	}
	switch {
	case found && st.Erased:
		return Result{Status: StatusErased, Attempts: st.Attempts, Generation: st.Generation, Ghost: st.Ghost}, nil
	case !found || st.Generation != res.Generation:
		return Result{Status: StatusStale, Attempts: st.Attempts, Generation: st.Generation}, nil
	}
	res.Sealed = st.Sealed
	return res, nil
}
