package instance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/vault"
)

// vaultNoticeFile, in the state directory, keeps what this device last
// learned from the vault about the account's password: every head read
// and advance tells the owner the vault's attempt counter and whether it
// erased the key (vault.HeadAccount). Kept in a file, so that `status`
// shows it whichever process learned it: the daemon at a commit, or a
// command run beside it.
const vaultNoticeFile = "vault-account"

// VaultNotice is what the vault last told this device about the account's
// password.
type VaultNotice struct {
	Erased bool `json:"erased,omitempty"`
	Failed int  `json:"failed"`        // wrong passwords since the password last worked
	Left   int  `json:"attempts_left"` // before the vault erases the key
	// Since is when this device first learned of the wrong passwords (or
	// the erasure) it reports: the vault keeps no time of them.
	Since time.Time `json:"since,omitzero"`
}

// Bad reports a notice worth a warning: wrong passwords tried, or the key
// erased.
func (n VaultNotice) Bad() bool { return n.Erased || n.Failed > 0 }

// Warning is what to tell the user of n; "" when there is nothing to say.
func (n VaultNotice) Warning() string {
	seen := n.Since.Local().Format("2006-01-02 15:04")
	switch {
	case n.Erased:
		return fmt.Sprintf("the vault erased this backup's key after %s (noticed %s): password recovery no longer works (the recovery key still does); set a new password with `chatsafe key set-password`",
			plural(n.Failed, "wrong password"), seen)
	case n.Failed > 0:
		return fmt.Sprintf("%s tried at the vault since the vault password last worked (first seen here %s): %s left before the vault erases the key; if that was not you, set a new password with `chatsafe key set-password` (it resets the count)",
			wereTried(n.Failed), seen, plural(n.Left, "attempt"))
	}
	return ""
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func wereTried(n int) string {
	if n == 1 {
		return "1 wrong password was"
	}
	return fmt.Sprintf("%d wrong passwords were", n)
}

// noticeOf is what the head answer a tells, given the notice before it
// (whose Since it keeps while the news stays bad).
func noticeOf(a vault.HeadAccount, prev VaultNotice, now time.Time) VaultNotice {
	n := VaultNotice{Erased: a.Erased, Failed: max(a.Failed, 0), Left: max(a.Left, 0)}
	if n.Bad() {
		n.Since = prev.Since
		if !prev.Bad() || n.Since.IsZero() {
			n.Since = now.UTC().Truncate(time.Second)
		}
	}
	return n
}

// LoadVaultNotice reads what the vault last told this device (ok false:
// nothing yet, or no vault).
func LoadVaultNotice(stateDir string) (n VaultNotice, ok bool, err error) {
	if stateDir == "" {
		return n, false, nil
	}
	b, err := os.ReadFile(filepath.Join(stateDir, vaultNoticeFile))
	if errors.Is(err, fs.ErrNotExist) {
		return n, false, nil
	}
	if err != nil {
		return n, false, fmt.Errorf("reading what the vault last said of the password: %w", err)
	}
	if err := json.Unmarshal(b, &n); err != nil {
		return VaultNotice{}, false, fmt.Errorf("%s is damaged (it is written again at the next commit): %w", filepath.Join(stateDir, vaultNoticeFile), err)
	}
	return n, true, nil
}

func saveVaultNotice(stateDir string, n VaultNotice) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return crypt.WriteSecretFile(filepath.Join(stateDir, vaultNoticeFile), append(b, '\n'))
}
