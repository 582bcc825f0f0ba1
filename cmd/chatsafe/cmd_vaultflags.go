package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/crypt"
)

// vaultFlags name a Backup Key Vault account: --vault, --vault-ca,
// --account, --password-file.
type vaultFlags struct {
	urls, ca, account, passwordFile string
}

func (v *vaultFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&v.urls, "vault", "", "Backup Key Vault URL(s), comma-separated")
	cmd.Flags().StringVar(&v.ca, "vault-ca", "", "PEM certificate to trust for the vault (its tls/cert.pem)")
	cmd.Flags().StringVar(&v.account, "account", "", "vault account name")
	cmd.Flags().StringVar(&v.passwordFile, "password-file", "", "file whose first line is the vault password (else asked on a terminal)")
}

func (v *vaultFlags) given() bool { return v.urls != "" }

func (v *vaultFlags) recover(cmd *cobra.Command) (crypt.Key, error) {
	return crypt.Key{}, usageErr(errors.New("the vault is not available in this build yet"))
}
