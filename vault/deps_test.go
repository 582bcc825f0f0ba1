package vault

import (
	"os/exec"
	"strings"
	"testing"
)

// TestClientLinksNoServer pins the split between the vault's client and
// its server: what a vault client links (the client package, the daemon,
// the instance helpers) holds neither raft nor bbolt. A new import that
// drags the server in fails here, not in a binary's size months later.
func TestClientLinksNoServer(t *testing.T) {
	for _, pkg := range []string{
		"github.com/chatsafe/chatsafe/vault/client",
		"github.com/chatsafe/chatsafe/daemon",
		"github.com/chatsafe/chatsafe/instance",
	} {
		// go test puts its own toolchain's bin first on PATH.
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list -deps %s listed only %v", pkg, deps)
		}
		for _, d := range deps {
			if strings.HasPrefix(d, "github.com/hashicorp/raft") || d == "go.etcd.io/bbolt" || strings.HasPrefix(d, "go.etcd.io/bbolt/") ||
				d == "github.com/chatsafe/chatsafe/vault/server" {
				t.Errorf("%s links %s", pkg, d)
			}
		}
	}
}
