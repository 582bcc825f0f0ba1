package server

import (
	"errors"

	"bytes"
	"context"
	"github.com/hashicorp/raft"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestApplyIsDeterministic replays one command log on two stores, as two
// Raft replicas would, and expects the same results and the same bytes.
func TestApplyIsDeterministic(t *testing.T) {
	a, b := [32]byte{1}, [32]byte{2}
	owner := bytes.Repeat([]byte{7}, 32)
	other := bytes.Repeat([]byte{8}, 32)
	log := []Command{
		{Op: OpRegister, Account: a, OwnerHash: owner, Sealed: []byte("s1")},
		{Op: OpAttempt, Account: a},
		{Op: OpAttempt, Account: b}, // ghost
		{Op: OpRegister, Account: a, OwnerHash: other, Sealed: []byte("evil")},
		{Op: OpAttempt, Account: a},
		{Op: OpSuccess, Account: a, Generation: 1},
		{Op: OpAttempt, Account: a},
		{Op: OpAttempt, Account: a},
		{Op: OpAttempt, Account: a},
		{Op: OpFail, Account: a, Generation: 1},
		{Op: OpAttempt, Account: a},
		{Op: OpAttempt, Account: b},
		{Op: OpAttempt, Account: b},
		{Op: OpAttempt, Account: b},
		{Op: OpRegister, Account: b, OwnerHash: other, Sealed: []byte("s2")},
		{Op: OpDelete, Account: b, OwnerHash: owner},
		{Op: OpRegister, Account: a, OwnerHash: owner, Sealed: []byte("s3")},
		{Op: OpDelete, Account: b, OwnerHash: other},
		{Op: OpSweep},
	}
	want := []struct {
		status   Status
		attempts int
	}{
		{StatusOK, 0}, {StatusOK, 1}, {StatusOK, 1}, {StatusNotOwner, 0}, {StatusOK, 2},
		{StatusOK, 0}, {StatusOK, 1}, {StatusOK, 2}, {StatusOK, 3}, {StatusErased, 3},
		{StatusErased, 3}, {StatusOK, 2}, {StatusOK, 3}, {StatusErased, 3},
		{StatusOK, 0}, {StatusNotOwner, 0}, {StatusOK, 0}, {StatusOK, 0}, {StatusOK, 0},
	}
	run := func() ([]Result, map[string]string) {
		st, err := OpenStore(t.TempDir(), 3)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var rs []Result
		for _, c := range log {
			r, err := st.Apply(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		rows := map[string]string{}
		st.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
				rows[string(k)] = string(v)
				return nil
			})
		})
		return rs, rows
	}
	r1, rows1 := run()
	r2, rows2 := run()
	if !reflect.DeepEqual(r1, r2) || !reflect.DeepEqual(rows1, rows2) {
		t.Fatal("two replicas applying the same log diverged")
	}
	for i, w := range want {
		if r1[i].Status != w.status || r1[i].Attempts != w.attempts {
			t.Errorf("command %d (%+v): got status %d attempts %d, want %d %d", i, log[i].Op, r1[i].Status, r1[i].Attempts, w.status, w.attempts)
		}
	}
	if len(rows1) != 1 {
		t.Errorf("want only account a left, got %d rows", len(rows1))
	}
}

// TestGapCheck: entries that never reach the FSM (no-ops, barriers) are
// no gap; a missing or unapplied command is.
func TestGapCheck(t *testing.T) {
	logs := raft.NewInmemStore()
	if err := logs.StoreLogs([]*raft.Log{
		{Index: 1, Type: raft.LogCommand},
		{Index: 2, Type: raft.LogNoop},
		{Index: 3, Type: raft.LogBarrier},
		{Index: 4, Type: raft.LogCommand},
		{Index: 6, Type: raft.LogCommand}, // 5 compacted away
	}); err != nil {
		t.Fatal(err)
	}
	f := &raftFSM{logs: logs}
	if err := f.checkGap(1, 4); err != nil {
		t.Errorf("no-op and barrier between 1 and 4: %v", err)
	}
	if err := f.checkGap(3, 4); err != nil {
		t.Errorf("consecutive: %v", err)
	}
	if err := f.checkGap(3, 5); !errors.Is(err, errGap) {
		t.Errorf("command 4 skipped: %v, want errGap", err)
	}
	if err := f.checkGap(4, 6); !errors.Is(err, errGap) {
		t.Errorf("entry 5 missing: %v, want errGap", err)
	}
}
