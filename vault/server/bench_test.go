package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/bytemare/opaque"

	"github.com/chatsafe/chatsafe/internal/cputime"
	"github.com/chatsafe/chatsafe/vault"
	"github.com/chatsafe/chatsafe/vault/client"
)

// benchKSF is the cheapest Argon2id the library accepts: the client's key
// stretching is not server work, and this benchmark measures the server.
var benchKSF = []uint64{1, 8, 1}

// benchHandle is account's vault handle in the benchmarks: fixed per
// name, as an owner keeps it on the remote.
func benchHandle(account string) []byte {
	h := vault.HandleHash([]byte(account))
	return h[:vault.HandleLen]
}

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
		oc, _ := vault.OpaqueConfig().Client()
		rr, _ := oc.RegistrationInit([]byte("pw"))
		var rs vault.RegisterStartResp
		if err := post(vault.PathRegisterStart, vault.RegisterStartReq{Account: acct, Request: rr.Serialize(), OwnerToken: make([]byte, 32)}, &rs); err != nil {
			b.Fatal(err)
		}
		resp, _ := oc.Deserialize.RegistrationResponse(rs.Response)
		rec, _, err := oc.RegistrationFinalize(resp, []byte(acct), nil, opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := post(vault.PathRegisterFinish, vault.RegisterFinishReq{Session: rs.Session, Record: rec.Serialize(), WrappedKey: make([]byte, 72), OwnerToken: make([]byte, 32), Handle: benchHandle(acct)}, &vault.OKResp{}); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.SetParallelism(32) // 64 concurrent clients on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		acct := fmt.Sprintf("user%d", next.Add(1)%accounts)
		for pb.Next() {
			oc, _ := vault.OpaqueConfig().Client()
			ke1, _ := oc.GenerateKE1([]byte("pw"))
			var ls vault.LoginStartResp
			if err := post(vault.PathLoginStart, vault.LoginStartReq{Account: acct, KE1: ke1.Serialize(), Handle: benchHandle(acct)}, &ls); err != nil {
				b.Error(err)
				return
			}
			ke2, _ := oc.Deserialize.KE2(ls.KE2)
			ke3, _, _, err := oc.GenerateKE3(ke2, []byte(acct), nil, opts)
			if err != nil {
				b.Error(err)
				return
			}
			var lf vault.LoginFinishResp
			if err := post(vault.PathLoginFinish, vault.LoginFinishReq{Session: ls.Session, KE3: ke3.Serialize()}, &lf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// BenchmarkVaultNode is the server-side figure for one node: a real vault
// serving HTTPS in this process, and the clients (Client.Recover, kept-alive
// TLS connections) in a separate load-generator process, so the CPU this
// process spends is the server's alone. It reports the wall-clock rate (the
// load generator competes for the same cores) and the node's capacity:
// available cores divided by the server CPU time per complete login.
func BenchmarkVaultNode(b *testing.B) {
	tv := startVault(b, b.TempDir(), func(c *ServerConfig) {
		c.AccountRate, c.AddressRate, c.MaxSessions = -1, -1, 1<<20
		c.Log = zap.NewNop()
	})
	tv.ksf = benchKSF
	ctx := context.Background()
	c := tv.client()
	for i := range loadgenAccounts {
		if err := reg(c, ctx, fmt.Sprintf("user%d", i), []byte("pw"), newKey(b)); err != nil {
			b.Fatal(err)
		}
	}
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(),
		envLoadgen+"="+strings.Join([]string{tv.url, tv.ccfg.CAFile, strconv.Itoa(b.N)}, ","))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	before := processCPU(b)
	b.ResetTimer()
	if err := cmd.Run(); err != nil {
		b.Fatalf("load generator: %v\n%s", err, out.String())
	}
	b.StopTimer()
	cpu := processCPU(b) - before
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "server-cpu-µs/login")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0))*float64(b.N)/cpu.Seconds(), "node-capacity-logins/s")
}

const (
	envLoadgen      = "CHATSAFE_VAULT_LOADGEN"
	loadgenAccounts = 64
	loadgenClients  = 64
)

func processCPU(tb testing.TB) time.Duration {
	d, err := cputime.Process()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// TestMain turns the test binary into BenchmarkVaultNode's load generator
// when that benchmark starts it.
func TestMain(m *testing.M) {
	if spec := os.Getenv(envLoadgen); spec != "" {
		if err := runLoadgen(spec); err != nil {
			fmt.Fprintln(os.Stderr, "load generator:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runLoadgen(spec string) error {
	parts := strings.Split(spec, ",")
	if len(parts) != 3 {
		return fmt.Errorf("bad spec %q", spec)
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil {
		return err
	}
	c, err := client.New(client.Options{URLs: []string{parts[0]}, CAFile: parts[1], Timeout: time.Minute, LoginStepTimeout: time.Minute, KSFParameters: benchKSF, MaxIdleConnsPerHost: loadgenClients})
	if err != nil {
		return err
	}
	var next atomic.Int64
	errc := make(chan error, loadgenClients)
	var wg sync.WaitGroup
	for w := range loadgenClients {
		wg.Go(func() {
			acct := fmt.Sprintf("user%d", w%loadgenAccounts)
			for next.Add(1) <= int64(n) {
				if _, err := rec(c, context.Background(), acct, []byte("pw")); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// BenchmarkKE2 compares the server's work for a registered and an unknown
// account (the enumeration timing channel), storage excluded.
func BenchmarkKE2(b *testing.B) {
	dir := b.TempDir()
	st, err := OpenStore(dir, 10)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	mk, err := OpenFileMasterKey(dir + "/" + MasterKeyFileName)
	if err != nil {
		b.Fatal(err)
	}
	eng, err := newEngine(context.Background(), st, mk)
	if err != nil {
		b.Fatal(err)
	}
	id := eng.accountID("known")
	oc, _ := vault.OpaqueConfig().Client()
	rr, _ := oc.RegistrationInit([]byte("pw"))
	resp, key, err := eng.registrationResponse(rr.Serialize(), id)
	if err != nil {
		b.Fatal(err)
	}
	r, _ := oc.Deserialize.RegistrationResponse(resp)
	rec, _, _ := oc.RegistrationFinalize(r, []byte("known"), nil, &opaque.ClientOptions{KSFParameters: benchKSF})
	sealed, err := eng.sealSecrets(mk, id, &accountSecrets{OPRFKey: key, Record: rec.Serialize(), WrappedKey: make([]byte, 72)})
	if err != nil {
		b.Fatal(err)
	}
	oc2, _ := vault.OpaqueConfig().Client()
	ke1, _ := oc2.GenerateKE1([]byte("guess"))
	b.Run("known", func(b *testing.B) {
		for b.Loop() {
			sec, err := eng.openSecrets(mk, id, sealed)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := eng.ke2(ke1, "known", id, sec); err != nil {
				b.Fatal(err)
			}
		}
	})
	uid := eng.accountID("unknown")
	b.Run("unknown", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := eng.ke2(ke1, "unknown", uid, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBeginReplay compares a counted login/begin with the same begin
// sent again (a client's retry after a lost answer), for a registered
// account and an unknown name, over HTTPS on one node: the replay must
// stay in the timing class of a counted attempt (docs/vault.md, "Attempt
// counting").
func BenchmarkBeginReplay(b *testing.B) {
	tv := startVault(b, b.TempDir(), func(c *ServerConfig) {
		c.MaxAttempts = 1 << 30
		c.MaxSessions = 1 << 20
		c.MaxSessionsPerPrefix = -1
		c.SessionTTL = time.Hour
	})
	tv.ksf = benchKSF
	if err := reg(tv.client(), context.Background(), "known", []byte("pw"), newKey(b)); err != nil {
		b.Fatal(err)
	}
	hc := tv.httpClient()
	begin := func(b *testing.B, req vault.LoginBeginReq) {
		body, _ := json.Marshal(req)
		res, err := hc.Post(tv.url+vault.PathLoginBegin, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("login/begin: %d", res.StatusCode)
		}
	}
	// CPU of the whole process (client and server) per begin: steadier
	// than the wall clock, which the fsync dominates.
	cpu := func(b *testing.B, loop func()) {
		c0, err := cputime.Process()
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			loop()
		}
		c1, _ := cputime.Process()
		b.ReportMetric(float64((c1-c0).Microseconds())/float64(b.N), "cpu-µs/op")
	}
	for _, account := range []string{"known", "unknown"} {
		req := vault.LoginBeginReq{Account: account, Handle: handleBytes(account)}
		blinds := make([][]byte, 4096)
		for i := range blinds {
			blinds[i] = vault.NewTOPRFBlind(account, []byte("guess")).Blinded
		}
		b.Run("counted/"+account, func(b *testing.B) {
			i := 0
			cpu(b, func() {
				req.Blinded = blinds[i%len(blinds)] // made outside the loop, as a replay's
				i++
				begin(b, req)
			})
		})
		req.Blinded = vault.NewTOPRFBlind(account, []byte("guess")).Blinded
		begin(b, req)
		b.Run("replay/"+account, func(b *testing.B) {
			cpu(b, func() { begin(b, req) })
		})
	}
}
