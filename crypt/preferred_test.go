package crypt

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestPreferredCipherWithoutAESAssembly: where Go's AES-GCM is software
// (a -tags purego build; GOARCH=386, whose CPU reports AES-NI all the
// same), a new repository gets XChaCha20-Poly1305. Each build runs
// TestPreferredCipherPrint in a child go test and reads its answer.
func TestPreferredCipherWithoutAESAssembly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package twice more")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	type build struct {
		name      string
		env, args []string
	}
	builds := []build{{"purego", nil, []string{"-tags", "purego"}}}
	// 386 binaries run on linux/amd64 (and windows/amd64) hosts.
	if runtime.GOARCH == "amd64" && (runtime.GOOS == "linux" || runtime.GOOS == "windows") {
		builds = append(builds, build{"386", []string{"GOARCH=386", "CGO_ENABLED=0"}, nil})
	}
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			args := append([]string{"test", "-count=1", "-run", "^TestPreferredCipherPrint$", "-v"}, b.args...)
			cmd := exec.CommandContext(t.Context(), gobin, append(args, ".")...)
			cmd.Env = append(append(os.Environ(), "CHATSAFE_PRINT_CIPHER=1"), b.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go test %v: %v\n%s", b.args, err, out)
			}
			if !strings.Contains(string(out), "preferred cipher: "+XChaCha20Poly1305.String()+"\n") {
				t.Fatalf("a %s build prefers another cipher than %v:\n%s", b.name, XChaCha20Poly1305, out)
			}
		})
	}
}

// TestPreferredCipherPrint prints this build's choice, for
// TestPreferredCipherWithoutAESAssembly.
func TestPreferredCipherPrint(t *testing.T) {
	if os.Getenv("CHATSAFE_PRINT_CIPHER") == "" {
		t.Skip("run by TestPreferredCipherWithoutAESAssembly")
	}
	t.Logf("\npreferred cipher: %v\n", PreferredCipher())
}
