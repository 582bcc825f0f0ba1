package client

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/vault"
)

// shortVault is one vault node whose peers did not answer in time: it
// counts the attempt and answers login/begin with its own share only, out
// of a threshold of two. It records the paths it was asked and the
// elements of the begins.
func shortVault(t *testing.T, begin vault.LoginBeginResp, eval func(http.ResponseWriter)) (*httptest.Server, string, *asked) {
	t.Helper()
	var a asked
	srv, ca := tlsVault(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.paths = append(a.paths, r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case vault.PathLoginBegin:
			var req vault.LoginBeginReq
			_ = json.NewDecoder(r.Body).Decode(&req)
			a.blinded = append(a.blinded, req.Blinded)
			_ = json.NewEncoder(w).Encode(begin)
		case vault.PathLoginEval:
			eval(w)
		default:
			_ = json.NewEncoder(w).Encode(vault.OKResp{OK: true})
		}
	}))
	return srv, ca, &a
}

// asked is what a test vault was asked; the client asks one request at a
// time, and the test reads it once Recover returned.
type asked struct {
	paths   []string
	blinded [][]byte
}

// tlsVault serves h over HTTPS and returns the server and a CA file that
// pins its certificate.
func tlsVault(t *testing.T, h http.Handler) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, ca
}

func shortBegin() vault.LoginBeginResp {
	return vault.LoginBeginResp{Session: make([]byte, vault.SessionIDLen), AttemptsLeft: 7, Threshold: 2, X: 1, Eval: make([]byte, vault.ElementLen), Index: 42}
}

// A client that lists only the node that took the attempt, when that node
// gathered too few shares, starts the login once more there with the same
// element (the attempt counted, no abort: at the limit an abort would
// erase), then gets an error that says so and what to do, with nothing
// unformatted in it, and keeps the element for its next try.
func TestRecoverShortOfSharesWithOneNodeListed(t *testing.T) {
	srv, ca, seen := shortVault(t, shortBegin(), nil)
	c, err := New(Options{URLs: []string{srv.URL}, CAFile: ca, KSFParameters: []uint64{1, 64, 1}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Recover(context.Background(), "bob", []byte("pw"), vault.Handle{})
	if !errors.Is(err, vault.ErrUnreachable) {
		t.Fatalf("Recover: %v, want vault.ErrUnreachable", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "%!") || strings.Contains(msg, "<nil>") {
		t.Fatalf("malformed message: %s", msg)
	}
	for _, want := range []string{"1 of the 2 key shares", "did not answer", "--vault"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if got := seen.paths; !slices.Equal(got, []string{vault.PathLoginBegin, vault.PathLoginBegin}) || !bytes.Equal(seen.blinded[0], seen.blinded[1]) {
		t.Fatalf("requests %v, want login/begin twice with the same element", got)
	}
	if !errors.Is(err, vault.ErrAttemptSpent) || !strings.Contains(msg, "same attempt") {
		t.Fatalf("message %q does not say that the attempt was counted and a retry is the same attempt", msg)
	}
	id := pending.id(c.urls, "bob", vault.Handle{}, []byte("pw"))
	if b := pending.take(id, "bob", []byte("pw")); !bytes.Equal(b.Blinded, seen.blinded[0]) {
		t.Fatal("the counted element was not kept for the next try")
	}
}

// When another node answers that the record is erased (the attempt limit,
// reached by other logins, erased it after this attempt was counted), the
// login ends with vault.ErrErased, not with a shortfall of shares that
// reads like a network problem.
func TestRecoverOvertakenByErasure(t *testing.T) {
	begin, ca1, _ := shortVault(t, shortBegin(), nil)
	other, ca2, _ := shortVault(t, shortBegin(), func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusGone)
		_ = json.NewEncoder(w).Encode(vault.ErrorResp{Error: vault.CodeErased, Message: vault.ErrErased.Error()})
	})
	pems := make([]byte, 0)
	for _, f := range []string{ca1, ca2} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pems = append(pems, b...)
	}
	ca := filepath.Join(t.TempDir(), "both.pem")
	if err := os.WriteFile(ca, pems, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{URLs: []string{begin.URL, other.URL}, CAFile: ca, KSFParameters: []uint64{1, 64, 1}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Recover(context.Background(), "bob", []byte("pw"), vault.Handle{})
	if !errors.Is(err, vault.ErrErased) || errors.Is(err, vault.ErrUnreachable) {
		t.Fatalf("Recover: %v, want vault.ErrErased (and not vault.ErrUnreachable)", err)
	}
}

// TestFewSharesSaysWhatToDo: a login short of key shares after its
// attempt was counted says what the nodes said and what helps: bring
// back the nodes that did not answer, set the password again for a node
// that holds none, and never "no such account" or "list every vault node"
// when every listed node answered.
func TestFewSharesSaysWhatToDo(t *testing.T) {
	down := fmt.Errorf("%w: https://n1: connection refused", vault.ErrUnreachable)
	noShare := fmt.Errorf("https://n4: %w", errNoShare)
	for _, tc := range []struct {
		name string
		errs []error
		want []string
	}{
		{"a node down, a node without a share", []error{down, noShare}, []string{"bring back the vault nodes that did not answer", "set the password again", "connection refused", "holds no share"}},
		{"a node without a share", []error{noShare}, []string{"set the password again"}},
		{"only the begin node listed", nil, []string{"did not answer the node that took the attempt"}},
	} {
		err := fewShares(1, 2, tc.errs)
		if !errors.Is(err, vault.ErrUnreachable) {
			t.Errorf("%s: not unreachable: %v", tc.name, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q missing from: %v", tc.name, w, err)
			}
		}
		for _, bad := range []string{"no such account", "list every vault node", "bring back"} {
			if bad == "bring back" && slices.Contains(tc.errs, down) {
				continue
			}
			if strings.Contains(err.Error(), bad) {
				t.Errorf("%s: says %q: %v", tc.name, bad, err)
			}
		}
	}
}
