package daemon_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/internal/vaulttest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/vault"
	vaultclient "github.com/chatsafe/chatsafe/vault/client"
)

// startVault runs a real vault server over HTTPS on loopback until the
// test ends and returns its URL and the certificate to pin.
func startVault(t *testing.T) (url, ca string) { return vaulttest.Start(t) }

// withVault keeps in's key in the vault at url for account behind a
// password (the handle on in's remotes, as `chatsafe key set-password`
// does), tries a wrong password wrong times with the handle, as whoever
// can read the remote can, and points in's config at the vault (and its
// status page at a port the system picks).
func withVault(t *testing.T, in *install, url, ca, account string, wrong int) {
	t.Helper()
	cfg := in.config(t)
	rems, err := instance.OpenRemotes(t.Context(), cfg, remotes.RetryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer instance.CloseRemotes(rems)
	c, err := vaultclient.New(vaultclient.Options{URLs: []string{url}, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	if err := instance.RegisterVault(t.Context(), c, account, []byte("the password"), in.key, rems); err != nil {
		t.Fatal(err)
	}
	h, err := instance.FindVaultHandle(t.Context(), rems)
	if err != nil {
		t.Fatal(err)
	}
	for range wrong {
		if _, err := c.Recover(t.Context(), account, []byte("a guess"), h); !errors.Is(err, vault.ErrWrongPassword) {
			t.Fatalf("a wrong password: %v", err)
		}
	}
	// The config as `chatsafe init` with the vault flags writes it (join
	// wrote the whole file: no section can be appended), with the page on.
	cfg.Key.Vault = configs.Vault{URL: url, Account: account, CAFile: ca}
	cfg.UIListen = "127.0.0.1:0"
	if err := cfg.Write(in.cfgPath); err != nil {
		t.Fatal(err)
	}
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestStatusPageShowsWhatToActOn: what `chatsafe status` tells the user
// to act on is on the status page too, in its alert box, in the same
// words: a joined device's first snapshot continued a head another device
// moved (the join warning), and the vault counted wrong passwords (how
// many, the attempts left, and `chatsafe key set-password`). Both are
// real: B joined at A's sequence 1 and A backed up twice more; B's key is
// in a real vault over HTTPS where 3 wrong passwords were tried.
func TestStatusPageShowsWhatToActOn(t *testing.T) {
	b := joinedBehind(t)
	url, ca := startVault(t)
	withVault(t, b, url, ca, "alice", 3)

	d := runInProcess(t, b, daemon.Options{})
	st := waitFor(t, d, "the join warning and the vault's count", func(st statusapi.Status) bool {
		return len(st.Warnings) == 1 && st.Vault != nil && st.Vault.FailedAttempts == 3
	})
	if st.Vault.AttemptsLeft != 7 || st.Vault.Warning == "" {
		t.Fatalf("the vault's word in the status: %+v", st.Vault)
	}
	tctx, wait, _ := openStatusPage(t, d, b)
	wait(`document.body.dataset.loaded === "1"`)
	// The alert box is shown, and holds each line as status prints it.
	alerts := `document.getElementById("alerts")`
	wait(alerts + ` !== null && !` + alerts + `.hidden && ` + alerts + `.offsetHeight > 0`)
	for _, want := range []string{"vault: " + st.Vault.Warning, "warning: " + st.Warnings[0],
		"3 wrong passwords", "7 attempts left", "chatsafe key set-password", "sequences 2 to 3"} {
		wait(alerts + `.innerText.includes(` + jsString(want) + `)`)
	}
	shot(t, tctx, "status-page-alerts.png")
}
