package server

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/chatsafe/chatsafe/vault"
)

// bucketHeads holds each account's head record, apart from the account
// rows: a password change (OpRegister) replaces the row but must not
// forget the head, and an erased key does not make the history older.
var bucketHeads = []byte("heads")

// readHead checks that cmd comes from the account's owner (the owner hash
// of a real account, and its handle when it has one) and returns the
// recorded head, with the account's attempt counter and erasure (the
// owner's to know). Both a read (Store.readHead, without a log entry) and an
// advance (applyHead, through the log) pass here, so the two cannot
// disagree on who may see the record: how far the history has gone is the
// owner's business. It writes nothing, so it runs in a read transaction.
func readHead(tx *bolt.Tx, cmd Command) (Result, error) {
	accounts := tx.Bucket(bucketAccounts)
	if accounts == nil {
		return Result{}, fmt.Errorf("vault database has no accounts bucket")
	}
	st, found, err := loadState(accounts, cmd.Account[:])
	if err != nil {
		return Result{}, err
	}
	if !found || st.Ghost || len(st.OwnerHash) == 0 {
		return Result{Status: StatusNotFound}, nil
	}
	if subtle.ConstantTimeCompare(st.OwnerHash, cmd.OwnerHash) != 1 {
		return Result{Status: StatusNotOwner}, nil
	}
	if len(st.HandleHash) > 0 && subtle.ConstantTimeCompare(st.HandleHash, cmd.HandleHash) != 1 {
		return Result{Status: StatusNotOwner}, nil
	}
	var cur vault.HeadRecord
	if heads := tx.Bucket(bucketHeads); heads != nil {
		if raw := heads.Get(cmd.Account[:]); raw != nil {
			if err := json.Unmarshal(raw, &cur); err != nil {
				return Result{}, fmt.Errorf("decoding a head record: %w", err)
			}
		}
	}
	return Result{Status: StatusOK, Head: cur, Attempts: st.Attempts, KeyErased: st.Erased}, nil
}

// applyHead advances an account's head record from cmd.Prev to cmd.Next
// (compare-and-swap), after readHead's owner checks. A command without
// Next only reads: such entries are no longer proposed (reads are served
// without the log) but stay in logs written before, and replay alike.
func applyHead(tx *bolt.Tx, cmd Command) (Result, error) {
	res, err := readHead(tx, cmd)
	if err != nil || res.Status != StatusOK || cmd.Next == nil {
		return res, err
	}
	cur := res.Head
	var prev vault.HeadRecord
	if cmd.Prev != nil {
		prev = *cmd.Prev
	}
	if !sameHead(cur, prev) || cmd.Next.Seq <= cur.Seq {
		return Result{Status: StatusHeadMoved, Head: cur}, nil
	}
	heads, err := tx.CreateBucketIfNotExists(bucketHeads)
	if err != nil {
		return Result{}, err
	}
	enc, err := json.Marshal(cmd.Next)
	if err != nil {
		return Result{}, err
	}
	if err := heads.Put(cmd.Account[:], enc); err != nil {
		return Result{}, err
	}
	res.Head = *cmd.Next
	return res, nil
}

func sameHead(a, b vault.HeadRecord) bool {
	return a.Seq == b.Seq && bytes.Equal(a.Delta, b.Delta) && bytes.Equal(a.TrailerHash, b.TrailerHash) && bytes.Equal(a.Device, b.Device)
}
