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
	oc, err := opaqueConfig().Client()
	if err != nil {
		f.Fatal(err)
	}
	ke1, err := oc.GenerateKE1([]byte("pw"))
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range []any{
		loginStartReq{Account: "alice", KE1: ke1.Serialize()},
		loginFinishReq{Session: make([]byte, sessionIDLen), KE3: make([]byte, ke3Len)},
		registerFinishReq{Session: make([]byte, sessionIDLen), Record: make([]byte, regRecordLen), WrappedKey: make([]byte, 72), OwnerToken: make([]byte, ownerTokenLen)},
		errorResp{Error: codeWrongPassword, Message: "wrong password", AttemptsLeft: new(int)},
	} {
		b, err := json.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	eng := &engine{conf: opaqueConfig()}
	srv, err := eng.conf.Server()
	if err != nil {
		f.Fatal(err)
	}
	des := srv.Deserialize

	f.Fuzz(func(t *testing.T, data []byte) {
		roundTrip := func(v validator, fresh func() validator) {
			if decodeRequest(data, v) != nil {
				return
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("re-encoding %T: %v", v, err)
			}
			w := fresh()
			if err := decodeRequest(b, w); err != nil {
				t.Fatalf("%T decodes, but its re-encoding does not: %v", v, err)
			}
			if !reflect.DeepEqual(v, w) {
				t.Fatalf("%T changes in a round trip: %+v vs %+v", v, v, w)
			}
		}
		var rs registerStartReq
		roundTrip(&rs, func() validator { return &registerStartReq{} })
		if rs.Request != nil {
			_, _ = des.RegistrationRequest(rs.Request)
		}
		var rf registerFinishReq
		roundTrip(&rf, func() validator { return &registerFinishReq{} })
		if rf.Record != nil {
			_, _ = des.RegistrationRecord(rf.Record)
		}
		var ls loginStartReq
		roundTrip(&ls, func() validator { return &loginStartReq{} })
		if ls.KE1 != nil {
			_, _ = des.KE1(ls.KE1)
		}
		var lf loginFinishReq
		roundTrip(&lf, func() validator { return &loginFinishReq{} })
		if lf.KE3 != nil {
			_, _ = des.KE3(lf.KE3)
		}
		roundTrip(&loginAbortReq{}, func() validator { return &loginAbortReq{} })
		roundTrip(&deleteReq{}, func() validator { return &deleteReq{} })

		// Client side: answers from a vault that may be hostile.
		var lsr loginStartResp
		if json.Unmarshal(data, &lsr) == nil && lsr.KE2 != nil {
			_, _ = oc.Deserialize.KE2(lsr.KE2)
		}
		var rsr registerStartResp
		if json.Unmarshal(data, &rsr) == nil && rsr.Response != nil {
			_, _ = oc.Deserialize.RegistrationResponse(rsr.Response)
		}
		var er errorResp
		_ = json.Unmarshal(data, &er)
	})
}
