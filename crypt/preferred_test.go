package crypt

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
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
	// 386 binaries run on linux/amd64 (and windows/amd64) hosts, unless
	// the kernel runs no 32-bit programs (some VMs; qemu-i386 7.2 crashes
	// Go's 386 runtime): there the build's files show its choice.
	if runtime.GOARCH == "amd64" && (runtime.GOOS == "linux" || runtime.GOOS == "windows") {
		builds = append(builds, build{"386", []string{"GOARCH=386", "CGO_ENABLED=0"}, nil})
	}
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			args := append([]string{"test", "-count=1", "-run", "^TestPreferredCipherPrint$", "-v"}, b.args...)
			cmd := exec.CommandContext(t.Context(), gobin, append(args, ".")...)
			cmd.Env = append(append(os.Environ(), "CHATSAFE_PRINT_CIPHER=1"), b.env...)
			out, err := cmd.CombinedOutput()
			if err != nil && b.name == "386" && strings.Contains(string(out), "exec format error") {
				checkBuildChoosesSoftware(t, gobin, b.env)
				return
			}
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

// checkBuildChoosesSoftware checks, without running it, that the build
// env describes compiles aesGCMHardware from preferred_other.go (always
// false, so XChaCha20-Poly1305) and no file that asks the CPU.
func checkBuildChoosesSoftware(t *testing.T, gobin string, env []string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), gobin, "list", "-f", "{{join .GoFiles \" \"}}", ".")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", env, err, out)
	}
	files := strings.Fields(string(out))
	if !slices.Contains(files, "preferred_other.go") {
		t.Fatalf("a %v build does not compile preferred_other.go: %v", env, files)
	}
	for _, f := range files {
		if strings.HasPrefix(f, "preferred_") && f != "preferred_other.go" {
			t.Fatalf("a %v build compiles %s beside preferred_other.go", env, f)
		}
	}
}
