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

// applyHead reads or advances an account's head record. Only the owner
// (the owner hash of a real account, and its handle when it has one) may
// do either: the record says how far the history has gone, which is the
// owner's business.
func applyHead(tx *bolt.Tx, accounts *bolt.Bucket, cmd Command) (Result, error) {
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
	heads, err := tx.CreateBucketIfNotExists(bucketHeads)
	if err != nil {
		return Result{}, err
	}
	var cur vault.HeadRecord
	if raw := heads.Get(cmd.Account[:]); raw != nil {
		if err := json.Unmarshal(raw, &cur); err != nil {
			return Result{}, fmt.Errorf("decoding a head record: %w", err)
		}
	}
	if cmd.Next == nil {
		return Result{Status: StatusOK, Head: cur}, nil
	}
	var prev vault.HeadRecord
	if cmd.Prev != nil {
		prev = *cmd.Prev
	}
	if !sameHead(cur, prev) || cmd.Next.Seq <= cur.Seq {
		return Result{Status: StatusHeadMoved, Head: cur}, nil
	}
	enc, err := json.Marshal(cmd.Next)
	if err != nil {
		return Result{}, err
	}
	if err := heads.Put(cmd.Account[:], enc); err != nil {
		return Result{}, err
	}
	return Result{Status: StatusOK, Head: *cmd.Next}, nil
}

func sameHead(a, b vault.HeadRecord) bool {
	return a.Seq == b.Seq && bytes.Equal(a.Delta, b.Delta) && bytes.Equal(a.TrailerHash, b.TrailerHash) && bytes.Equal(a.Device, b.Device)
}
