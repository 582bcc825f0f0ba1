package vault

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodeMessages feeds arbitrary bytes to every message decoder of the
// vault, server side (requests, then the OPAQUE parsing the handlers do)
// and client side (answers). Nothing may panic, and whatever decodes must
// survive a re-encoding unchanged.
func FuzzDecodeMessages(f *testing.F) {
	oc, err := OpaqueConfig().Client()
	if err != nil {
		f.Fatal(err)
	}
	ke1, err := oc.GenerateKE1([]byte("pw"))
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range []any{
		LoginStartReq{Account: "alice", KE1: ke1.Serialize()},
		LoginFinishReq{Session: make([]byte, SessionIDLen), KE3: make([]byte, KE3Len)},
		RegisterFinishReq{Session: make([]byte, SessionIDLen), Record: make([]byte, RegRecordLen), WrappedKey: make([]byte, 72), OwnerToken: make([]byte, OwnerTokenLen)},
		ErrorResp{Error: CodeWrongPassword, Message: "wrong password", AttemptsLeft: new(int)},
		HeadReq{Account: "alice", OwnerToken: make([]byte, OwnerTokenLen), Next: &HeadRecord{Seq: 1, Delta: make([]byte, HeadDeltaLen), TrailerHash: make([]byte, HeadTrailerLen), Device: make([]byte, HeadDeviceLen)}},
		LoginBeginReq{Account: "alice", Blinded: NewTOPRFBlind("alice", []byte("pw")).Blinded},
		LoginEvalReq{Account: "alice", Blinded: make([]byte, ElementLen), Index: 7},
		LoginKE1Req{Session: make([]byte, SessionIDLen), KE1: ke1.Serialize()},
		RegisterFinishReq{Session: make([]byte, SessionIDLen), Record: make([]byte, RegRecordLen), WrappedKey: make([]byte, 72), OwnerToken: make([]byte, OwnerTokenLen),
			Shares: []SealedShare{{Node: "1", X: 1, Sealed: make([]byte, 80)}, {Node: "2", X: 2, Sealed: make([]byte, 80)}}, Threshold: 2},
		RegisterFinishReq{Session: make([]byte, SessionIDLen), Record: make([]byte, RegRecordLen), WrappedKey: make([]byte, 72), OwnerToken: make([]byte, OwnerTokenLen), NewOwnerToken: make([]byte, OwnerTokenLen)},
		RegisterFinishReq{Session: make([]byte, SessionIDLen), Record: make([]byte, RegRecordLen), WrappedKey: make([]byte, 72), OwnerToken: make([]byte, OwnerTokenLen), NewOwnerToken: make([]byte, 5)},
	} {
		b, err := json.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	srv, err := OpaqueConfig().Server()
	if err != nil {
		f.Fatal(err)
	}
	des := srv.Deserialize

	f.Fuzz(func(t *testing.T, data []byte) {
		roundTrip := func(v Validator, fresh func() Validator) {
			if DecodeRequest(data, v) != nil {
				return
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("re-encoding %T: %v", v, err)
			}
			w := fresh()
			if err := DecodeRequest(b, w); err != nil {
				t.Fatalf("%T decodes, but its re-encoding does not: %v", v, err)
			}
			if !reflect.DeepEqual(v, w) {
				t.Fatalf("%T changes in a round trip: %+v vs %+v", v, v, w)
			}
		}
		var rs RegisterStartReq
		roundTrip(&rs, func() Validator { return &RegisterStartReq{} })
		if rs.Request != nil {
			_, _ = des.RegistrationRequest(rs.Request)
		}
		var rf RegisterFinishReq
		roundTrip(&rf, func() Validator { return &RegisterFinishReq{} })
		if rf.Record != nil {
			_, _ = des.RegistrationRecord(rf.Record)
		}
		var ls LoginStartReq
		roundTrip(&ls, func() Validator { return &LoginStartReq{} })
		if ls.KE1 != nil {
			_, _ = des.KE1(ls.KE1)
		}
		var lf LoginFinishReq
		roundTrip(&lf, func() Validator { return &LoginFinishReq{} })
		if lf.KE3 != nil {
			_, _ = des.KE3(lf.KE3)
		}
		roundTrip(&LoginAbortReq{}, func() Validator { return &LoginAbortReq{} })
		roundTrip(&DeleteReq{}, func() Validator { return &DeleteReq{} })
		roundTrip(&HeadReq{}, func() Validator { return &HeadReq{} })
		var lb LoginBeginReq
		roundTrip(&lb, func() Validator { return &LoginBeginReq{} })
		if lb.Blinded != nil {
			_, _ = DecodeElement(lb.Blinded)
		}
		roundTrip(&LoginEvalReq{}, func() Validator { return &LoginEvalReq{} })
		roundTrip(&LoginKE1Req{}, func() Validator { return &LoginKE1Req{} })

		// Client side: answers from a vault that may be hostile.
		var lsr LoginStartResp
		if json.Unmarshal(data, &lsr) == nil && lsr.KE2 != nil {
			_, _ = oc.Deserialize.KE2(lsr.KE2)
		}
		var rsr RegisterStartResp
		if json.Unmarshal(data, &rsr) == nil && rsr.Response != nil {
			_, _ = oc.Deserialize.RegistrationResponse(rsr.Response)
		}
		var er ErrorResp
		_ = json.Unmarshal(data, &er)
	})
}
