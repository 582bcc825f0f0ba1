package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	vaultserver "github.com/chatsafe/chatsafe/vault/server"
)

// newVaultKeyCommand is `chatsafe vault key new`: the master key a cluster
// shares, made before any node's first start (a cluster node never makes
// its own: each would differ, and the nodes would never set up).
func newVaultKeyCommand() *cobra.Command {
	key := &cobra.Command{
		Use:   "key",
		Short: "Make the vault's master key (for a cluster, before the first start)",
		Long: `The vault's master key seals its secrets at rest (DIR/master.key). key new
makes it before a cluster's first start, to be copied to every node.`,
		Example: "  chatsafe vault key new --data /var/lib/chatsafe-vault",
		Args:    cobra.NoArgs,
	}
	var data string
	newCmd := &cobra.Command{
		Use:   "new",
		Short: "Make DIR/master.key, the master key every node of a cluster shares",
		Long: `Make the vault's master key in DIR/master.key (mode 0600, 64 hex digits) if
there is none; an existing one is kept and only checked. Every node of a
cluster needs the same master key: make it once, on one node, and copy the file
into every other node's data directory before that node's first start. A
cluster node does not start without one. A single node makes its own on first
start and needs no command.`,
		Example: `  chatsafe vault key new --data /var/lib/chatsafe-vault
  scp /var/lib/chatsafe-vault/master.key vault-2:/var/lib/chatsafe-vault/master.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if data == "" {
				return usageErr(errors.New("give --data DIR (the node's data directory)"))
			}
			path, created, err := vaultserver.NewMasterKeyFile(data)
			if err != nil {
				return err
			}
			if created {
				fmt.Fprintf(cmd.OutOrStdout(), "made %s; copy it (mode 0600) into every other node's data directory before that node's first start, and back it up apart from vault.db\n", path)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%s exists; kept it\n", path)
			}
			return nil
		},
	}
	newCmd.Flags().StringVar(&data, "data", "", "the node's data directory")
	key.AddCommand(newCmd)
	return key
}
