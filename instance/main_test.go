package instance_test

import (
	"os"
	"testing"

	"github.com/chatsafe/chatsafe/internal/installguard"
	vaultclient "github.com/chatsafe/chatsafe/vault/client"
)

func TestMain(m *testing.M) {
	// Vault passwords derive with cheap Argon2id parameters: under -race
	// the production ones cost seconds a password (vault/server's
	// TestProductionKSF and cmd/chatsafe's TestVaultCLIUsesProductionKSF
	// keep them tested).
	os.Setenv(vaultclient.TestKSFEnv, "1,1024,1")
	os.Exit(installguard.Run(m))
}
