package client

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/vault"
)

// A login's requests after its begin give up after LoginStepTimeout, so
// that a retry after an answer lost to a timeout has most of the vault's
// session_ttl; a begin (it counts the attempt) and every other request
// keep Timeout. Here a vault stalls every request: a login/ke1 gives up
// at the step while a login/begin and a deletion sent before it are still
// waiting, and both are answered once it gave up.
func TestLoginStepTimeout(t *testing.T) {
	waiting := make(chan string, 2)
	answer := make(chan struct{})
	done := make(chan struct{}) // the test is over: end the stalled handlers
	srv, ca := tlsVault(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == vault.PathDelete || r.URL.Path == vault.PathLoginBegin {
			waiting <- r.URL.Path
			select {
			case <-answer:
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"ok":true}`))
			case <-r.Context().Done():
			case <-done:
			}
			return
		}
		select {
		case <-r.Context().Done(): // the client gave up
		case <-done:
		}
	}))
	t.Cleanup(func() { close(done) }) // before srv.Close, which waits for the handlers
	const step = 300 * time.Millisecond
	c, err := New(Options{URLs: []string{srv.URL}, CAFile: ca, KSFParameters: []uint64{1, 64, 1}, Timeout: time.Minute, LoginStepTimeout: step})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	answered := make(chan error, 2)
	go func() { answered <- c.Delete(context.Background(), "eve", crypt.Key{}) }()
	go func() {
		answered <- c.post(context.Background(), srv.URL, vault.PathLoginBegin, []byte(`{}`), &struct{}{})
	}()
	<-waiting
	<-waiting

	err = c.post(context.Background(), srv.URL, vault.PathLoginKE1, []byte(`{}`), &struct{}{})
	if !strings.Contains(err.Error(), "no answer within "+step.String()) {
		t.Fatalf("a login/ke1 never answered: %v, want no answer within %s", err, step)
	}
	close(answer)
	for range 2 {
		if err := <-answered; err != nil {
			t.Fatalf("a begin or a deletion that waited longer than a login's step: %v, want it answered (it has Timeout)", err)
		}
	}
}

// The step timeout's default is DefaultLoginStepTimeout, and never more
// than Timeout.
func TestLoginStepTimeoutDefault(t *testing.T) {
	for _, tc := range []struct{ timeout, step, want time.Duration }{
		{0, 0, DefaultLoginStepTimeout},
		{time.Minute, 0, DefaultLoginStepTimeout},
		{4 * time.Second, 0, 4 * time.Second},
		{0, time.Second, time.Second},
		{time.Second, 2 * time.Second, time.Second},
	} {
		c, err := New(Options{URLs: []string{"https://vault.example"}, Timeout: tc.timeout, LoginStepTimeout: tc.step})
		if err != nil {
			t.Fatal(err)
		}
		if c.stepTimeout != tc.want {
			t.Errorf("Timeout %s, LoginStepTimeout %s: a login's step waits %s, want %s", tc.timeout, tc.step, c.stepTimeout, tc.want)
		}
	}
}

// A step whose answer's headers came in time but whose body stalls gives
// up at the step too, and says so: not a bare "reading the answer".
func TestLoginStepTimeoutWhileReadingTheAnswer(t *testing.T) {
	done := make(chan struct{})
	srv, ca := tlsVault(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"ke2":`))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() { close(done) })
	const step = 300 * time.Millisecond
	c, err := New(Options{URLs: []string{srv.URL}, CAFile: ca, KSFParameters: []uint64{1, 64, 1}, Timeout: time.Minute, LoginStepTimeout: step})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	err = c.post(context.Background(), srv.URL, vault.PathLoginKE1, []byte(`{}`), &struct{}{})
	if err == nil || !strings.Contains(err.Error(), "answer not read within "+step.String()) {
		t.Fatalf("a login/ke1 whose answer stalled: %v, want answer not read within %s", err, step)
	}
}
