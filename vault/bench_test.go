package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/bytemare/opaque"
)

// benchKSF is the cheapest Argon2id the library accepts: the client's key
// stretching is not server work, and this benchmark measures the server.
var benchKSF = []uint64{1, 8, 1}

// BenchmarkServerLogin measures complete logins (KE1→KE2 with the attempt
// durably counted, KE3→key released with the counter durably reset) through
// the server's HTTP handler, many clients at once. The clients' own OPAQUE
// work runs inside the timed loop on the same cores, so the figure is a
// lower bound for the server alone. TLS is measured by BenchmarkLoginHTTPS.
func BenchmarkServerLogin(b *testing.B) {
	dir := b.TempDir()
	srv, err := NewServer(ServerConfig{Listen: "127.0.0.1:0", DataDir: dir, AccountRate: -1, AddressRate: -1, MaxSessions: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.ln.Close(); srv.store.Close() })
	h := srv.handler()
	post := func(path string, req, resp any) error {
		body, err := json.Marshal(req)
		if err != nil {
			return err
		}
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		r.RemoteAddr = "192.0.2.1:1234"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			return fmt.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
		return json.Unmarshal(w.Body.Bytes(), resp)
	}
	const accounts = 256
	opts := &opaque.ClientOptions{KSFParameters: benchKSF}
	for i := range accounts {
		acct := fmt.Sprintf("user%d", i)
		oc, _ := opaqueConfig().Client()
		rr, _ := oc.RegistrationInit([]byte("pw"))
		var rs registerStartResp
		if err := post(pathRegisterStart, registerStartReq{Account: acct, Request: rr.Serialize(), OwnerToken: make([]byte, 32)}, &rs); err != nil {
			b.Fatal(err)
		}
		resp, _ := oc.Deserialize.RegistrationResponse(rs.Response)
		rec, _, err := oc.RegistrationFinalize(resp, []byte(acct), nil, opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := post(pathRegisterFinish, registerFinishReq{Session: rs.Session, Record: rec.Serialize(), WrappedKey: make([]byte, 72), OwnerToken: make([]byte, 32)}, &okResp{}); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.SetParallelism(32) // 64 concurrent clients on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		acct := fmt.Sprintf("user%d", next.Add(1)%accounts)
		for pb.Next() {
			oc, _ := opaqueConfig().Client()
			ke1, _ := oc.GenerateKE1([]byte("pw"))
			var ls loginStartResp
			if err := post(pathLoginStart, loginStartReq{Account: acct, KE1: ke1.Serialize()}, &ls); err != nil {
				b.Error(err)
				return
			}
			ke2, _ := oc.Deserialize.KE2(ls.KE2)
			ke3, _, _, err := oc.GenerateKE3(ke2, []byte(acct), nil, opts)
			if err != nil {
				b.Error(err)
				return
			}
			var lf loginFinishResp
			if err := post(pathLoginFinish, loginFinishReq{Session: ls.Session, KE3: ke3.Serialize()}, &lf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// BenchmarkLoginHTTPS is the end-to-end figure: Client.Recover over real
// TLS connections (kept alive) to a serving vault, clients on the same cores.
func BenchmarkLoginHTTPS(b *testing.B) {
	tv := startVault(b, b.TempDir(), func(c *ServerConfig) { c.AccountRate = -1; c.AddressRate = -1; c.MaxSessions = 1 << 20 })
	tv.ksf = benchKSF
	ctx := context.Background()
	const accounts = 64
	c := tv.client()
	for i := range accounts {
		if err := c.Register(ctx, fmt.Sprintf("user%d", i), []byte("pw"), newKey(b)); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		acct := fmt.Sprintf("user%d", next.Add(1)%accounts)
		for pb.Next() {
			if _, err := c.Recover(ctx, acct, []byte("pw")); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}
