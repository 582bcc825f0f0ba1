package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// fsmLog drives a raftFSM over a real bbolt store with log entries, as
// raft does on every replica.
type fsmLog struct {
	tb    testing.TB
	f     *raftFSM
	index uint64
}

func newFSMLog(tb testing.TB, maxAttempts int) *fsmLog {
	st, err := OpenStore(tb.TempDir(), maxAttempts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return &fsmLog{tb: tb, f: &raftFSM{st: st, log: zap.NewNop()}}
}

// apply appends cmds as consecutive entries in one batch and returns what
// the FSM answered for each (a Result or an error).
func (l *fsmLog) apply(cmds ...Command) []any {
	l.tb.Helper()
	var logs []*raft.Log
	for _, c := range cmds {
		data, err := json.Marshal(c)
		if err != nil {
			l.tb.Fatal(err)
		}
		l.index++
		logs = append(logs, &raft.Log{Index: l.index, Type: raft.LogCommand, Data: data})
	}
	return l.f.ApplyBatch(logs)
}

// one applies cmd and wants a Result.
func (l *fsmLog) one(cmd Command) Result {
	l.tb.Helper()
	out := l.apply(cmd)[0]
	res, ok := out.(Result)
	if !ok {
		l.tb.Fatalf("op %d: the FSM answered %v", cmd.Op, out)
	}
	return res
}

func (l *fsmLog) row(account [32]byte) accountState {
	l.tb.Helper()
	st, _, err := l.f.st.view(account)
	if err != nil {
		l.tb.Fatal(err)
	}
	return st
}

func registered(l *fsmLog, account [32]byte) {
	l.tb.Helper()
	owner := bytes.Repeat([]byte{7}, 32)
	if r := l.one(Command{Op: OpRegister, Account: account, OwnerHash: owner, Sealed: []byte("sealed"), Req: newRequestID()}); r.Status != StatusOK {
		l.tb.Fatalf("register: status %d", r.Status)
	}
}

// An attempt delivered twice (a retry after a lost answer, in the same
// batch or a later one) counts one wrong attempt and answers the second
// copy exactly as the first, sealed secrets included.
func TestDuplicateAttemptCountsOnce(t *testing.T) {
	l := newFSMLog(t, DefaultMaxAttempts)
	a := [32]byte{1}
	registered(l, a)
	att := Command{Op: OpAttempt, Account: a, Req: newRequestID()}
	out := l.apply(att, att)
	r1, r2 := out[0].(Result), out[1].(Result)
	if r1.Attempts != 1 || r2.Attempts != 1 || r2.Status != StatusOK || !bytes.Equal(r2.Sealed, []byte("sealed")) || r2.Row != r1.Row {
		t.Fatalf("one attempt delivered twice in one batch: %+v then %+v", r1, r2)
	}
	if r3 := l.one(att); r3.Attempts != 1 || !bytes.Equal(r3.Sealed, []byte("sealed")) {
		t.Fatalf("a third copy in a later batch: %+v", r3)
	}
	if st := l.row(a); st.Attempts != 1 {
		t.Fatalf("the row counts %d attempts, want 1", st.Attempts)
	}
}

// The limit holds with every attempt delivered twice: ten wrong attempts
// are ten (no early erasure), the eleventh erases, and nothing more is
// ever allowed.
func TestDuplicatesNeitherEraseEarlyNorAllowMore(t *testing.T) {
	l := newFSMLog(t, DefaultMaxAttempts)
	a := [32]byte{2}
	registered(l, a)
	for k := 1; k <= DefaultMaxAttempts; k++ {
		att := Command{Op: OpAttempt, Account: a, Req: newRequestID()}
		for _, out := range l.apply(att, att) {
			if r := out.(Result); r.Status != StatusOK || r.Attempts != k {
				t.Fatalf("attempt %d (twice): %+v", k, r)
			}
		}
	}
	if st := l.row(a); st.Erased || st.Attempts != DefaultMaxAttempts {
		t.Fatalf("after %d attempts each delivered twice: %+v", DefaultMaxAttempts, st)
	}
	if r := l.one(Command{Op: OpAttempt, Account: a, Req: newRequestID()}); r.Status != StatusErased {
		t.Fatalf("attempt %d: status %d, want erased", DefaultMaxAttempts+1, r.Status)
	}
	if st := l.row(a); !st.Erased || st.Sealed != nil {
		t.Fatalf("not erased after the limit: %+v", st)
	}
}

// A success delivered again after new wrong attempts answers the first
// copy's result and does not reset the counter: otherwise a retried reset
// would hand out more than the limit.
func TestDuplicateSuccessDoesNotResetAgain(t *testing.T) {
	l := newFSMLog(t, DefaultMaxAttempts)
	a := [32]byte{3}
	registered(l, a)
	for range 3 {
		l.one(Command{Op: OpAttempt, Account: a, Req: newRequestID()})
	}
	ok := Command{Op: OpSuccess, Account: a, Generation: 1, Req: newRequestID()}
	if r := l.one(ok); r.Status != StatusOK || r.Attempts != 0 {
		t.Fatalf("success: %+v", r)
	}
	for range 2 {
		l.one(Command{Op: OpAttempt, Account: a, Req: newRequestID()})
	}
	if r := l.one(ok); r.Status != StatusOK || !bytes.Equal(r.Sealed, []byte("sealed")) {
		t.Fatalf("the success's second copy: %+v", r)
	}
	if st := l.row(a); st.Attempts != 2 {
		t.Fatalf("a success delivered again reset the counter: %d attempts, want 2", st.Attempts)
	}
}

// A second copy of an attempt on a record erased since does not hand out
// the sealed secrets: they are not kept with the request id.
func TestDuplicateAttemptAfterErasure(t *testing.T) {
	l := newFSMLog(t, 1)
	a := [32]byte{4}
	registered(l, a)
	att := Command{Op: OpAttempt, Account: a, Req: newRequestID()}
	if r := l.one(att); r.Status != StatusOK || r.Attempts != 1 {
		t.Fatalf("the only attempt: %+v", r)
	}
	if r := l.one(Command{Op: OpFail, Account: a, Generation: 1, Req: newRequestID()}); r.Status != StatusErased {
		t.Fatalf("failing the last attempt: %+v", r)
	}
	if r := l.one(att); r.Status != StatusErased || r.Sealed != nil {
		t.Fatalf("the attempt's second copy after the erasure: %+v", r)
	}
	err := l.f.st.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRequests).ForEach(func(k, v []byte) error {
			if bytes.Contains(v, []byte("sealed")) || bytes.Contains(v, []byte("c2VhbGVk")) {
				t.Errorf("request %x keeps the sealed secrets: %s", k, v)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Ids are kept for dedupWindow entries; a copy that arrives later than
// that after its first proposal is refused, so a forgotten id never lets
// a change through twice.
func TestDuplicateAfterWindowRefused(t *testing.T) {
	l := newFSMLog(t, DefaultMaxAttempts)
	a := [32]byte{5}
	registered(l, a)
	att := Command{Op: OpAttempt, Account: a, Req: newRequestID(), Since: l.index}
	l.one(att)
	l.index += dedupWindow // the log moved on (entries of other accounts)
	fresh := Command{Op: OpAttempt, Account: [32]byte{6}, Req: newRequestID(), Since: l.index}
	l.one(fresh)
	err := l.f.st.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketRequests).Get(att.Req) != nil {
			t.Error("an id older than the window is still kept")
		}
		if tx.Bucket(bucketRequests).Get(fresh.Req) == nil {
			t.Error("the newest id is not kept")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if out := l.apply(att)[0]; !errors.Is(asError(out), errTooLate) {
		t.Fatalf("a copy past the window: %v, want errTooLate", out)
	}
	if st := l.row(a); st.Attempts != 1 {
		t.Fatalf("the late copy was counted: %d attempts, want 1", st.Attempts)
	}
}

func asError(v any) error {
	err, _ := v.(error)
	return err
}

// A second copy of a request answers everything the first one did: the
// handlers read every field of Result. A replayed attempt (Reuse) sent
// again after a lost forward must still say Replay, or an account from
// before the threshold OPRF would get a session (a free guess) and the
// audit log would say the attempt was counted.
func TestDuplicateAnswersAsTheFirst(t *testing.T) {
	l := newFSMLog(t, DefaultMaxAttempts)
	a := [32]byte{9}
	registered(l, a)
	b := bytes.Repeat([]byte{5}, 32)
	if r := l.one(Command{Op: OpAttempt, Account: a, Blind: b, Reuse: true, Req: newRequestID()}); r.Replay || r.Attempts != 1 {
		t.Fatalf("first attempt: %+v", r)
	}
	cases := map[string]Command{
		"replay":  {Op: OpAttempt, Account: a, Blind: b, Reuse: true},
		"counted": {Op: OpAttempt, Account: a, Blind: bytes.Repeat([]byte{6}, 32), Reuse: true},
		"ghost":   {Op: OpAttempt, Account: [32]byte{10}, Blind: b, Reuse: true},
	}
	for _, name := range []string{"replay", "counted", "ghost"} {
		cmd := cases[name]
		cmd.Req = newRequestID()
		out := l.apply(cmd, cmd)
		r1, r2 := out[0].(Result), out[1].(Result)
		if r1.Status != StatusOK || r1.Replay != (name == "replay") {
			t.Fatalf("%s: first copy %+v", name, r1)
		}
		if !reflect.DeepEqual(r1, r2) {
			t.Fatalf("%s: the second copy answers\n%+v\nthe first\n%+v", name, r2, r1)
		}
		if r3 := l.one(cmd); !reflect.DeepEqual(r1, r3) {
			t.Fatalf("%s: a copy in a later batch answers\n%+v\nthe first\n%+v", name, r3, r1)
		}
	}
	if st := l.row(a); st.Attempts != 2 {
		t.Fatalf("the row counts %d attempts, want 2", st.Attempts)
	}
}
