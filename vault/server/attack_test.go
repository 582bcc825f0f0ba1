package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/bytemare/opaque"

	"github.com/chatsafe/chatsafe/vault"
)

// rawPost sends body to the vault and returns status and raw answer, the
// way an attacker's own client would.
func rawPost(t *testing.T, tv *testVault, url string, body any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tv.httpClient().Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, out
}

func newKE1(t *testing.T, password string) []byte {
	t.Helper()
	oc, err := vault.OpaqueConfig().Client()
	if err != nil {
		t.Fatal(err)
	}
	ke1, err := oc.GenerateKE1([]byte(password))
	if err != nil {
		t.Fatal(err)
	}
	return ke1.Serialize()
}

func TestStopAfterKE2SpendsAnAttempt(t *testing.T) {
	tv := startVault(t, t.TempDir(), nil)
	ctx := context.Background()
	c := tv.client()
	if err := reg(c, ctx, "dave", []byte("right"), newKey(t)); err != nil {
		t.Fatal(err)
	}
	// An attacker sends KE1, reads KE2 and walks away (offline guessing
	// from KE2 is impossible, but a client can tell a wrong password from
	// KE2 alone, so the attempt must already be spent).
	for i := range 3 {
		status, body := rawPost(t, tv, tv.url+vault.PathLoginStart, vault.LoginStartReq{Account: "dave", KE1: newKE1(t, "guess"), Handle: handleBytes("dave")})
		if status != http.StatusOK {
			t.Fatalf("login start: %d %s", status, body)
		}
		var r vault.LoginStartResp
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		if r.AttemptsLeft != 9-i {
			t.Fatalf("KE2 #%d says %d left, want %d", i+1, r.AttemptsLeft, 9-i)
		}
	}
	_, err := rec(c, ctx, "dave", []byte("wrong"))
	if left := wrongLeft(t, err); left != 6 {
		t.Fatalf("after 3 abandoned logins and a wrong password: %d left, want 6", left)
	}
}

func TestConcurrentWrongAttemptsCountExactly(t *testing.T) {
	tv := startVault(t, t.TempDir(), nil)
	ctx := context.Background()
	if err := reg(tv.client(), ctx, "erin", []byte("right"), newKey(t)); err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		lefts  []int
		erased int
		wg     sync.WaitGroup
		start  = make(chan struct{})
	)
	for range 20 {
		c := tv.client()
		wg.Go(func() {
			<-start
			_, err := rec(c, ctx, "erin", []byte("wrong"))
			mu.Lock()
			defer mu.Unlock()
			var wp vault.WrongPasswordError
			switch {
			case errors.As(err, &wp):
				lefts = append(lefts, wp.Left)
			case errors.Is(err, vault.ErrErased):
				erased++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	sort.Ints(lefts)
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !reflect.DeepEqual(lefts, want) || erased != 10 {
		t.Fatalf("20 concurrent wrong attempts: counted %v (want %v), %d erased (want 10)", lefts, want, erased)
	}
	if _, err := rec(tv.client(), ctx, "erin", []byte("right")); !errors.Is(err, vault.ErrErased) {
		t.Fatalf("right password after the limit: want vault.ErrErased, got %v", err)
	}
}

// TestUnknownAccountLooksKnown compares what the network sees for a
// registered and an unknown account: status, fields, sizes, attempt counts,
// and the OPRF behaviour (a stable OPRF key per account name).
func TestUnknownAccountLooksKnown(t *testing.T) {
	tv := startVault(t, t.TempDir(), nil)
	ctx := context.Background()
	c := tv.client()
	if err := reg(c, ctx, "frank", []byte("right"), newKey(t)); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status int
		body   []byte
		resp   vault.LoginStartResp
		fields []string
	}
	ask := func(account string, ke1 []byte) answer {
		status, body := rawPost(t, tv, tv.url+vault.PathLoginStart, vault.LoginStartReq{Account: account, KE1: ke1, Handle: handleBytes(account)})
		var a answer
		a.status, a.body = status, body
		if err := json.Unmarshal(body, &a.resp); err != nil {
			t.Fatalf("%s: %v: %s", account, err, body)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		for k := range m {
			a.fields = append(a.fields, k)
		}
		sort.Strings(a.fields)
		return a
	}
	for round := range 2 {
		ke1 := newKE1(t, "guess") // a new attempt: the same KE1 again is the same one
		known, unknown := ask("frank", ke1), ask("frankie", ke1)
		if known.status != http.StatusOK || unknown.status != known.status {
			t.Fatalf("status: known %d, unknown %d", known.status, unknown.status)
		}
		if len(known.body) != len(unknown.body) {
			t.Errorf("body size: known %d, unknown %d", len(known.body), len(unknown.body))
		}
		if !reflect.DeepEqual(known.fields, unknown.fields) {
			t.Errorf("fields: known %v, unknown %v", known.fields, unknown.fields)
		}
		if len(known.resp.KE2) != vault.KE2Len || len(unknown.resp.KE2) != vault.KE2Len {
			t.Errorf("KE2 sizes: known %d, unknown %d, want %d", len(known.resp.KE2), len(unknown.resp.KE2), vault.KE2Len)
		}
		if known.resp.AttemptsLeft != 9-round || unknown.resp.AttemptsLeft != 9-round {
			t.Errorf("attempts left: known %d, unknown %d, want %d", known.resp.AttemptsLeft, unknown.resp.AttemptsLeft, 9-round)
		}
		if bytes.Equal(known.resp.KE2[:32], unknown.resp.KE2[:32]) {
			t.Error("known and unknown accounts share an OPRF key")
		}
	}
	// The same blinded element evaluates to the same value on every
	// request, for unknown accounts as for known ones; the same KE1 sent
	// again (a client's retry) is the attempt counted, for both alike.
	ke1 := newKE1(t, "guess")
	for _, acct := range []string{"frank", "frankie"} {
		a, b := ask(acct, ke1), ask(acct, ke1)
		if !bytes.Equal(a.resp.KE2[:32], b.resp.KE2[:32]) {
			t.Errorf("%s: OPRF evaluation changes between requests", acct)
		}
		if a.resp.AttemptsLeft != 7 || b.resp.AttemptsLeft != 7 {
			t.Errorf("%s: the same KE1 twice leaves %d then %d attempts, want 7 both times", acct, a.resp.AttemptsLeft, b.resp.AttemptsLeft)
		}
	}
	// And the client reports the same thing for both.
	_, errKnown := rec(c, ctx, "frank", []byte("wrong"))
	_, errUnknown := rec(c, ctx, "frankie", []byte("wrong"))
	if wrongLeft(t, errKnown) != wrongLeft(t, errUnknown) {
		t.Errorf("client view differs: %v vs %v", errKnown, errUnknown)
	}
	if strings.Replace(errKnown.Error(), "frank", "frankie", 1) != errUnknown.Error() {
		t.Errorf("client messages differ: %q vs %q", errKnown, errUnknown)
	}
}

func TestReRegistrationNeedsOwnerToken(t *testing.T) {
	tv := startVault(t, t.TempDir(), nil)
	ctx := context.Background()
	c := tv.client()
	key := newKey(t)
	if err := reg(c, ctx, "grace", []byte("first"), key); err != nil {
		t.Fatal(err)
	}
	// A stranger with another backup key cannot replace the account.
	if err := reg(c, ctx, "grace", []byte("mine now"), newKey(t)); !errors.Is(err, vault.ErrNotOwner) {
		t.Fatalf("re-registration with another key: want vault.ErrNotOwner, got %v", err)
	}
	// Nor by skipping the early check and going straight to finish with a
	// forged token: start without a token is refused too.
	oc, _ := vault.OpaqueConfig().Client()
	rr, _ := oc.RegistrationInit([]byte("x"))
	if status, body := rawPost(t, tv, tv.url+vault.PathRegisterStart, vault.RegisterStartReq{Account: "grace", Request: rr.Serialize()}); status != http.StatusForbidden {
		t.Fatalf("register start without owner token: %d %s", status, body)
	}
	// Nor delete it.
	if err := c.Delete(ctx, "grace", newKey(t)); !errors.Is(err, vault.ErrNotOwner) {
		t.Fatalf("delete with another key: want vault.ErrNotOwner, got %v", err)
	}
	if got, err := rec(c, ctx, "grace", []byte("first")); err != nil || got != key {
		t.Fatalf("the original password must still work: %v", err)
	}
	// The owner can change the password ...
	if err := reg(c, ctx, "grace", []byte("second"), key); err != nil {
		t.Fatalf("password change by the owner: %v", err)
	}
	if _, err := rec(c, ctx, "grace", []byte("first")); !errors.Is(err, vault.ErrWrongPassword) {
		t.Fatalf("old password after change: want wrong password, got %v", err)
	}
	if got, err := rec(c, ctx, "grace", []byte("second")); err != nil || got != key {
		t.Fatalf("new password: %v", err)
	}
	// ... and delete the account.
	if err := c.Delete(ctx, "grace", key); err != nil {
		t.Fatalf("delete by the owner: %v", err)
	}
	if err := c.Delete(ctx, "grace", key); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("second delete: want vault.ErrNotFound, got %v", err)
	}
	if _, err := rec(c, ctx, "grace", []byte("second")); !errors.Is(err, vault.ErrWrongPassword) {
		t.Fatalf("recover after delete: want wrong password, got %v", err)
	}
}

// TestRaceReRegistrationBetweenKE2AndKE3: a session opened on one record
// must not release a record that replaced it.
func TestSessionBoundToRecordGeneration(t *testing.T) {
	tv := startVault(t, t.TempDir(), nil)
	ctx := context.Background()
	c := tv.legacyClient() // KE1 below is of the password itself
	key := newKey(t)
	if err := reg(c, ctx, "heidi", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	oc, _ := vault.OpaqueConfig().Client()
	ke1, _ := oc.GenerateKE1([]byte("pw"))
	status, body := rawPost(t, tv, tv.url+vault.PathLoginStart, vault.LoginStartReq{Account: "heidi", KE1: ke1.Serialize(), Handle: handleBytes("heidi")})
	if status != http.StatusOK {
		t.Fatalf("%d %s", status, body)
	}
	var r vault.LoginStartResp
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	ke2, err := oc.Deserialize.KE2(r.KE2)
	if err != nil {
		t.Fatal(err)
	}
	ke3, _, _, err := oc.GenerateKE3(ke2, []byte("heidi"), nil, &opaque.ClientOptions{KSFParameters: testKSF})
	if err != nil {
		t.Fatal(err)
	}
	// The owner changes the password in between.
	if err := reg(c, ctx, "heidi", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	status, body = rawPost(t, tv, tv.url+vault.PathLoginFinish, vault.LoginFinishReq{Session: r.Session, KE3: ke3.Serialize()})
	if status != http.StatusConflict || bytes.Contains(body, []byte("wrapped")) {
		t.Fatalf("KE3 of a replaced record: %d %s", status, body)
	}
	// A session is single-use.
	status, _ = rawPost(t, tv, tv.url+vault.PathLoginFinish, vault.LoginFinishReq{Session: r.Session, KE3: ke3.Serialize()})
	if status != http.StatusNotFound {
		t.Fatalf("replayed KE3: status %d, want 404", status)
	}
}
