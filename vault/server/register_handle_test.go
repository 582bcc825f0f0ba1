package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/bytemare/opaque"

	"github.com/chatsafe/chatsafe/vault"
)

// TestRegisterWithoutHandleRefused: every chatsafe client registers with
// a vault handle, which gates who may spend the account's attempts and see
// the refusal a cluster gives its owner when too few share holders answer
// (docs/vault.md). A registration without one, from an old client or one
// of the wire protocol's own, would make an account whose attempts anyone
// knowing its name can spend: the vault refuses it, and says why. The same
// registration with a handle is taken.
func TestRegisterWithoutHandleRefused(t *testing.T) {
	tv := startVault(t, t.TempDir(), nil)
	register := func(account string, handle []byte) (int, []byte) {
		oc, err := vault.OpaqueConfig().Client()
		if err != nil {
			t.Fatal(err)
		}
		rr, err := oc.RegistrationInit([]byte("pw"))
		if err != nil {
			t.Fatal(err)
		}
		token := bytes.Repeat([]byte{7}, vault.OwnerTokenLen)
		status, body := rawPost(t, tv, tv.url+vault.PathRegisterStart, vault.RegisterStartReq{Account: account, Request: rr.Serialize(), OwnerToken: token})
		if status != http.StatusOK {
			t.Fatalf("register/start: %d %s", status, body)
		}
		var rs vault.RegisterStartResp
		if err := json.Unmarshal(body, &rs); err != nil {
			t.Fatal(err)
		}
		resp, err := oc.Deserialize.RegistrationResponse(rs.Response)
		if err != nil {
			t.Fatal(err)
		}
		rec, _, err := oc.RegistrationFinalize(resp, []byte(account), nil, &opaque.ClientOptions{KSFParameters: testKSF})
		if err != nil {
			t.Fatal(err)
		}
		return rawPost(t, tv, tv.url+vault.PathRegisterFinish, vault.RegisterFinishReq{Session: rs.Session, Record: rec.Serialize(), WrappedKey: make([]byte, 72), OwnerToken: token, Handle: handle})
	}
	status, body := register("nohandle", nil)
	t.Logf("without a handle: %d %s", status, body)
	if status != http.StatusBadRequest || !strings.Contains(string(body), "handle") {
		t.Errorf("a registration without a handle: %d %s, want 400 naming the handle", status, body)
	}
	h, err := vault.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	if status, body := register("withhandle", h[:]); status != http.StatusOK {
		t.Errorf("the same registration with a handle: %d %s", status, body)
	}
}
