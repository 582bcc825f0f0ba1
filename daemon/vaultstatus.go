package daemon

import (
	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/statusapi"
)

// vaultStatus is what the vault last told this device of the password
// (nil without a vault, or before anything was asked). It is read from the
// state directory, where every open and commit keeps it, so that status
// also shows what a command run beside the daemon learned.
func (d *Daemon) vaultStatus(cfg *configs.Config) *statusapi.Vault {
	if !cfg.Key.Vault.Enabled() {
		return nil
	}
	n, ok, err := instance.LoadVaultNotice(cfg.StateDir)
	if err != nil {
		d.log.Debug("status without the vault's word on the password", zap.Error(err))
	}
	if !ok {
		return nil
	}
	return &statusapi.Vault{Erased: n.Erased, FailedAttempts: n.Failed, AttemptsLeft: n.Left, Since: n.Since, Warning: n.Warning()}
}
