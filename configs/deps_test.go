package configs

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinksNoRclone pins configs' dependency weight: rclone's fs package,
// imported only to check a bwlimit, about doubled what configs links. A
// bwlimit is checked by internal/bwlimit, which agrees with rclone in its
// own test.
func TestLinksNoRclone(t *testing.T) {
	const pkg = "github.com/chatsafe/chatsafe/configs"
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
		if strings.HasPrefix(d, "github.com/rclone/") {
			t.Errorf("configs links %s", d)
		}
	}
}
