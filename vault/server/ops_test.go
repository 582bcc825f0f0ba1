package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bytemare/opaque"

	"github.com/chatsafe/chatsafe/vault"
	"github.com/chatsafe/chatsafe/vault/client"
)

func TestProductionKSF(t *testing.T) {
	tv := startVault(t, t.TempDir(), nil)
	tv.ksf = nil // Argon2id t=3, 64 MiB, as shipped
	ctx := context.Background()
	c := tv.client()
	key := newKey(t)
	if err := reg(c, ctx, "ivan", []byte("pw"), key); err != nil {
		t.Fatal(err)
	}
	if got, err := rec(c, ctx, "ivan", []byte("pw")); err != nil || got != key {
		t.Fatalf("Recover with production parameters: %v", err)
	}
	// Parameters are part of the derivation: a client with other
	// parameters is a wrong password, not a key.
	tv.ksf = testKSF
	cheap := tv.client()
	if _, err := rec(cheap, ctx, "ivan", []byte("pw")); !errors.Is(err, vault.ErrWrongPassword) {
		t.Fatalf("other KSF parameters: want wrong password, got %v", err)
	}
}

// TestLastAttemptErasedWhenSessionExpires: a client that spends the last
// attempt and never finishes must not leave a record that waits for the
// next attempt: the session expiry erases it.
func TestLastAttemptErasedWhenSessionExpires(t *testing.T) {
	dir := t.TempDir()
	tv := startVault(t, dir, func(c *ServerConfig) { c.MaxAttempts = 2; c.SessionTTL = time.Hour })
	ctx := context.Background()
	c := tv.client()
	if err := reg(c, ctx, "judy", []byte("right"), newKey(t)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if status, body := rawPost(t, tv, tv.url+vault.PathLoginStart, vault.LoginStartReq{Account: "judy", KE1: newKE1(t, "guess"), Handle: handleBytes("judy")}); status != http.StatusOK {
			t.Fatalf("%d %s", status, body)
		}
	}
	// The janitor's step, one TTL later (the janitor loop itself is
	// tested with a fake clock in TestJanitorExpiresSessions).
	tv.srv.expire(ctx, time.Now().Add(2*time.Hour))
	if tv.logs.FilterField(zapString("event", "erase")).Len() != 1 {
		t.Fatal("no audit entry for the erasure after the last session expired")
	}
	tv.Stop()
	// Directly in the database: the secrets are gone.
	st, err := OpenStore(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	err = st.db.View(func(tx *boltTx) error {
		return tx.Bucket(bucketAccounts).ForEach(func(_, v []byte) error {
			var s accountState
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
			if s.Sealed != nil || !s.Erased {
				t.Errorf("record after the last attempt expired: erased=%v, secrets kept=%v", s.Erased, s.Sealed != nil)
			}
			n++
			return nil
		})
	})
	if err != nil || n != 1 {
		t.Fatalf("want 1 record, got %d (%v)", n, err)
	}
}

// TestRestartErasesSpentRecords: attempts spent before a crash (no session
// survives) mean erasure at the next start, before any request.
func TestRestartErasesSpentRecords(t *testing.T) {
	dir := t.TempDir()
	tv := startVault(t, dir, func(c *ServerConfig) { c.MaxAttempts = 3 })
	ctx := context.Background()
	c := tv.client()
	if err := reg(c, ctx, "ken", []byte("right"), newKey(t)); err != nil {
		t.Fatal(err)
	}
	tv.Stop()
	// Count three attempts straight into the store, as if the server died
	// after the third commit and before any session could end.
	st, err := OpenStore(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	mk, err := OpenFileMasterKey(filepath.Join(dir, MasterKeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := newEngine(context.Background(), st, mk)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if r, err := st.Apply(ctx, Command{Op: OpAttempt, Account: eng.accountID("ken"), HandleHash: vault.HandleHash(handleBytes("ken"))}); err != nil || r.Status != StatusOK {
			t.Fatalf("attempt: %v %v", r.Status, err)
		}
	}
	st.Close()
	tv = startVault(t, dir, func(c *ServerConfig) { c.MaxAttempts = 3 })
	if tv.logs.FilterField(zapString("event", "erase")).Len() != 1 {
		t.Error("no audit entry for the erasure at start-up")
	}
	if _, err := rec(tv.client(), ctx, "ken", []byte("right")); !errors.Is(err, vault.ErrErased) {
		t.Fatalf("want vault.ErrErased, got %v", err)
	}
}

func TestRateLimits(t *testing.T) {
	tv := startVault(t, t.TempDir(), func(c *ServerConfig) {
		c.AccountRate, c.AccountBurst = 0.001, 2
		c.AddressRate, c.AddressBurst = 0.001, 6
	})
	ctx := context.Background()
	c := tv.client()
	// Per account: two requests, then refused (and not counted).
	for i := range 2 {
		if _, err := rec(c, ctx, "laura", []byte("x")); !errors.Is(err, vault.ErrWrongPassword) {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if _, err := rec(c, ctx, "laura", []byte("x")); !errors.Is(err, vault.ErrRateLimited) {
		t.Fatalf("third request for one account: want vault.ErrRateLimited, got %v", err)
	}
	// Per address: the other account still works until the address's
	// budget (6 requests: 2 logins of 2 requests + 1 refused + ...) is spent.
	var err error
	for range 10 {
		if _, err = rec(c, ctx, "mallory", []byte("x")); errors.Is(err, vault.ErrRateLimited) {
			break
		}
	}
	if !errors.Is(err, vault.ErrRateLimited) {
		t.Fatalf("per-address limit never hit: %v", err)
	}
}

func TestFailoverAndUnreachable(t *testing.T) {
	tv := startVault(t, t.TempDir(), nil)
	ctx := context.Background()
	// A dead first URL: a port that was just free.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "https://" + ln.Addr().String()
	ln.Close()

	opts := tv.ccfg
	opts.URLs = []string{dead, tv.url}
	opts.KSFParameters = testKSF
	c, err := client.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	tv.conns = append(tv.conns, c)
	key := newKey(t)
	if err := reg(c, ctx, "nina", []byte("pw"), key); err != nil {
		t.Fatalf("Register with a dead first node: %v", err)
	}
	if got, err := rec(c, ctx, "nina", []byte("pw")); err != nil || got != key {
		t.Fatalf("Recover with a dead first node: %v", err)
	}
	opts.URLs = []string{dead}
	c, _ = client.New(opts)
	if _, err := rec(c, ctx, "nina", []byte("pw")); !errors.Is(err, vault.ErrUnreachable) {
		t.Fatalf("only a dead node: want vault.ErrUnreachable, got %v", err)
	}
	// A vault whose certificate is not the pinned one is not our vault.
	other := startVault(t, t.TempDir(), nil)
	opts.URLs = []string{other.url}
	c, _ = client.New(opts)
	_, err = rec(c, ctx, "nina", []byte("pw"))
	if !errors.Is(err, vault.ErrUnreachable) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("unpinned certificate: want vault.ErrUnreachable about the certificate, got %v", err)
	}
	if _, err := client.New(client.Options{URLs: []string{"http://plain.example"}}); err == nil {
		t.Fatal("plain http URL accepted")
	}
}

// TestAuditLogHoldsNoSecrets checks every logged field for the password,
// the key, the owner token and the OPAQUE messages of a session.
func TestAuditLogHoldsNoSecrets(t *testing.T) {
	tv := startVault(t, t.TempDir(), nil)
	ctx := context.Background()
	c := tv.client()
	key := newKey(t)
	pw := []byte("hunter2-very-secret")
	if err := reg(c, ctx, "oscar", pw, key); err != nil {
		t.Fatal(err)
	}
	if _, err := rec(c, ctx, "oscar", []byte("wrong-guess-xyz")); !errors.Is(err, vault.ErrWrongPassword) {
		t.Fatal(err)
	}
	if _, err := rec(c, ctx, "oscar", pw); err != nil {
		t.Fatal(err)
	}
	// A raw login whose messages we know, on the account registered again
	// without the threshold OPRF so that KE1 is of the password itself.
	if err := reg(tv.legacyClient(), ctx, "oscar", pw, key); err != nil {
		t.Fatal(err)
	}
	oc, _ := vault.OpaqueConfig().Client()
	ke1, _ := oc.GenerateKE1(pw)
	_, body := rawPost(t, tv, tv.url+vault.PathLoginStart, vault.LoginStartReq{Account: "oscar", KE1: ke1.Serialize(), Handle: handleBytes("oscar")})
	var r vault.LoginStartResp
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	ke2, _ := oc.Deserialize.KE2(r.KE2)
	ke3, _, _, _ := oc.GenerateKE3(ke2, []byte("oscar"), nil, &opaque.ClientOptions{KSFParameters: testKSF})
	_, fin := rawPost(t, tv, tv.url+vault.PathLoginFinish, vault.LoginFinishReq{Session: r.Session, KE3: ke3.Serialize()})
	var lf vault.LoginFinishResp
	if err := json.Unmarshal(fin, &lf); err != nil || len(lf.WrappedKey) == 0 {
		t.Fatalf("raw login: %s", fin)
	}
	tv.Stop()

	var all bytes.Buffer
	for _, e := range tv.logs.All() {
		all.WriteString(e.Message)
		enc, _ := json.Marshal(e.ContextMap())
		all.Write(enc)
	}
	if !strings.Contains(all.String(), `"event":"login"`) || !strings.Contains(all.String(), `"event":"attempt"`) {
		t.Fatalf("audit log lacks the expected events: %s", all.String())
	}
	secrets := map[string][]byte{
		"password": pw, "wrong guess": []byte("wrong-guess-xyz"), "key": key[:], "owner token": vault.OwnerToken(key, "oscar"),
		"handle": handleBytes("oscar"), "KE1": ke1.Serialize(), "KE2": r.KE2, "KE3": ke3.Serialize(), "session": r.Session, "wrapped key": lf.WrappedKey,
	}
	for name, s := range secrets {
		for _, form := range [][]byte{s, []byte(hex.EncodeToString(s)), []byte(base64.StdEncoding.EncodeToString(s))} {
			if bytes.Contains(all.Bytes(), form) {
				t.Errorf("the log holds the %s", name)
			}
		}
	}
}

func TestMasterKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, MasterKeyFileName)
	mk, err := OpenFileMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	sealed, err := mk.Seal([]byte("secret"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := OpenFileMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := again.Open(sealed, []byte("ad")); err != nil || string(pt) != "secret" {
		t.Fatalf("reopened key does not open: %v", err)
	}
	if _, err := again.Open(sealed, []byte("other ad")); err == nil {
		t.Fatal("opened with other associated data")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := again.Open(sealed, []byte("ad")); err == nil {
		t.Fatal("opened altered data")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileMasterKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key accepted: %v", err)
	}
	// A vault started with another master key refuses its data.
	vdir := t.TempDir()
	tv := startVault(t, vdir, nil)
	tv.Stop()
	if err := os.Remove(filepath.Join(vdir, MasterKeyFileName)); err != nil {
		t.Fatal(err)
	}
	if _, err := NewServer(ServerConfig{Listen: "127.0.0.1:0", DataDir: vdir}); err == nil || !strings.Contains(err.Error(), "master key") {
		t.Fatalf("vault with a new master key over old data: %v", err)
	}
}

func TestServerConfigFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "vault.yaml")
	os.WriteFile(p, []byte("listen: 127.0.0.1:9443\ndata: /srv/vault\nmax_attempts: 5\naccount_rate: -1\nsession_ttl: 10s\n"), 0o600)
	var cfg ServerConfig
	if err := LoadServerConfigFile(p, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9443" || cfg.DataDir != "/srv/vault" || cfg.MaxAttempts != 5 || cfg.AccountRate != -1 || cfg.SessionTTL != 10*time.Second {
		t.Fatalf("loaded %+v", cfg)
	}
	os.WriteFile(p, []byte("head_rate: 2\nhead_burst: 30\n"), 0o600)
	if err := LoadServerConfigFile(p, &cfg); err != nil || cfg.HeadRate != 2 || cfg.HeadBurst != 30 || cfg.AccountRate != -1 {
		t.Fatalf("head limits: %+v, %v", cfg, err)
	}
	os.WriteFile(p, []byte("head_burst: -1\n"), 0o600)
	if err := LoadServerConfigFile(p, &cfg); err == nil || !strings.Contains(err.Error(), "head_burst must not be negative") {
		t.Fatalf("a negative head_burst: %v", err)
	}
	// A rate that is not a number or infinite would let every request
	// through and never drop a bucket (the limiter keeps its keys until
	// they refill), so the table fills and refuses every new key.
	for _, bad := range []string{"head_rate: .nan", "address_rate: .inf", "account_rate: -.inf"} {
		os.WriteFile(p, []byte(bad+"\n"), 0o600)
		if err := LoadServerConfigFile(p, &cfg); err == nil || !strings.Contains(err.Error(), "finite") {
			t.Fatalf("%s: %v", bad, err)
		}
	}
	os.WriteFile(p, []byte("listen: x\nmax_attempt: 5\n"), 0o600)
	if err := LoadServerConfigFile(p, &cfg); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("unknown key: %v", err)
	}
}
