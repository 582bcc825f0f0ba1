package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/internal/installguard"
	vaultclient "github.com/chatsafe/chatsafe/vault/client"
)

// testKSFParameters are the vault client's Argon2id parameters (time, KiB,
// threads) in this package's tests.
const testKSFParameters = "1,1024,1"

// Commands run in process, each on a fresh command tree (runCLI). A few
// tests need a real process (kill -9, a daemon beside the CLI): they use the
// real binary, built once on first use with the test hooks compiled in.
var (
	buildOnce   sync.Once
	binaryPath  string
	binaryErr   error
	binaryDir   string
	binaryBuild bytes.Buffer
)

func TestMain(m *testing.M) {
	// Vault passwords derive with cheap Argon2id parameters here and in
	// the child binaries (TestVaultCLIUsesProductionKSF keeps the real
	// ones): under -race the production ones took most of this package's
	// time.
	os.Setenv(vaultclient.TestKSFEnv, testKSFParameters)
	code := installguard.Run(m)
	if binaryDir != "" {
		os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

// chatsafeBinary builds the real chatsafe (with -tags chatsafe_testhooks)
// the first time a test needs it. -buildvcs=auto (over a GOFLAGS that turns
// it off) builds it as `go build` in a checkout does: it knows its module
// version, as a user's build does (TestOneVersionEverywhere).
func chatsafeBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binaryDir, binaryErr = os.MkdirTemp("", "chatsafe-cli-test-"); binaryErr != nil {
			return
		}
		binaryPath = filepath.Join(binaryDir, "chatsafe")
		if runtime.GOOS == "windows" {
			binaryPath += ".exe"
		}
		build := exec.Command("go", "build", "-tags", "chatsafe_testhooks", "-buildvcs=auto", "-o", binaryPath, ".")
		build.Stdout, build.Stderr = &binaryBuild, &binaryBuild
		binaryErr = build.Run()
	})
	if binaryErr != nil {
		t.Fatalf("building chatsafe: %v\n%s", binaryErr, binaryBuild.String())
	}
	return binaryPath
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs `chatsafe args...` in process on a fresh command tree, as main
// does: the error goes to stderr and decides the exit code. home stands
// for the user's machine: the default config would be there (and is
// absent), so nothing reads or writes the real system's files.
func run(t *testing.T, home string, args ...string) result {
	t.Helper()
	return runContext(t.Context(), home, args...)
}

// runContext is run with ctx (a test that interrupts the command).
func runContext(ctx context.Context, home string, args ...string) result {
	g := &globalOptions{defaultConfig: filepath.Join(home, "default-config", "config.yaml")}
	root := buildRootCommand(g)
	var out, errb bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err := interrupted(ctx, root.ExecuteContext(ctx))
	if err != nil {
		fmt.Fprintln(&errb, "chatsafe:", err)
	}
	return result{exitCode(err), out.String(), errb.String()}
}

func (r result) want(t *testing.T, code int, stderrHas string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stderr+r.stdout, stderrHas) {
		t.Fatalf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", r.code, code, stderrHas, r.stdout, r.stderr)
	}
}

type setup struct {
	home, src, remote, cfg, keyFile string
}

// newSetup is an installation made by init; keyFile, its first recovery
// key, is not the daemon's recovery-key.txt (which key rotate replaces).
func newSetup(t *testing.T) setup {
	t.Helper()
	home := t.TempDir()
	s := setup{home: home, src: filepath.Join(home, "chats"), remote: filepath.Join(home, "remote"),
		cfg: filepath.Join(home, "chatsafe.yaml"), keyFile: filepath.Join(home, "init-recovery-key.txt")}
	if err := os.MkdirAll(filepath.Join(s.src, "Media"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(s.src, "settings.json"), []byte(`{"a":1}`), 0o644)
	os.WriteFile(filepath.Join(s.src, "Media", "IMG-1.jpg"), bytes.Repeat([]byte{0xff, 0xd8, 1, 2, 3}, 50000), 0o644)
	run(t, home, "init", "--source", s.src, "--remote", s.remote, "--config", s.cfg, "--state-dir", filepath.Join(home, "state"), "--recovery-key-out", s.keyFile).want(t, 0, "recovery key")
	return s
}

func TestInitBackupRestore(t *testing.T) {
	s := newSetup(t)
	info, err := os.Stat(s.keyFile)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("recovery key file: %v %v", info, err)
	}
	key, _ := os.ReadFile(s.keyFile)
	r := run(t, s.home, "backup", "--config", s.cfg)
	r.want(t, 0, "saved")
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "nothing changed")

	r = run(t, s.home, "snapshots", "--config", s.cfg, "--json")
	var snaps []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &snaps); err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots --json: %v %q", err, r.stdout)
	}
	for _, k := range []string{"id", "short_id", "seq", "time", "hostname", "source", "files", "bytes"} {
		if _, ok := snaps[0][k]; !ok {
			t.Errorf("snapshots --json lacks %q", k)
		}
	}
	run(t, s.home, "check", "--config", s.cfg, "--read-data").want(t, 0, "no errors: 1 snapshot, 1 delta, ") // counts read as English

	// A new device: only the remote and the recovery key.
	dst := filepath.Join(t.TempDir(), "restored")
	run(t, t.TempDir(), "restore", "--remote", s.remote, "--recovery-key-file", s.keyFile, "--to", dst).want(t, 0, "restored snapshot")
	for _, f := range []string{"settings.json", "Media/IMG-1.jpg"} {
		a, _ := os.ReadFile(filepath.Join(s.src, f))
		b, err := os.ReadFile(filepath.Join(dst, f))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs after restore: %v", f, err)
		}
	}
	// The recovery key printed by init is the one in the file.
	if !strings.Contains(string(key), "-") || len(strings.TrimSpace(string(key))) != 79 {
		t.Errorf("recovery key file holds %q", key)
	}
	// A non-empty target is refused without --force.
	run(t, s.home, "restore", "--config", s.cfg, "--to", dst).want(t, 2, "--force")
	run(t, s.home, "restore", "--config", s.cfg, "--to", dst, "--force").want(t, 0, "restored")
}

func TestBadKeys(t *testing.T) {
	s := newSetup(t)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	dir := t.TempDir()
	dst := filepath.Join(dir, "out")

	malformed := filepath.Join(dir, "malformed")
	os.WriteFile(malformed, []byte("1234-5678-zz"), 0o600)
	run(t, dir, "restore", "--remote", s.remote, "--recovery-key-file", malformed, "--to", dst).want(t, 2, "64 hex digits")

	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(wrong, []byte(strings.Repeat("ABCD-", 15)+"ABCD\n"), 0o600)
	run(t, dir, "restore", "--remote", s.remote, "--recovery-key-file", wrong, "--to", dst).want(t, 3, "wrong recovery key")
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Fatalf("a wrong key created the target: %v", err)
	}
	// No key at all and no terminal: a usage error saying what to pass.
	run(t, dir, "restore", "--remote", s.remote, "--to", dst).want(t, 2, "--recovery-key-file")
}

func TestTamperedRemoteExit6(t *testing.T) {
	s := newSetup(t)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	deltas, _ := filepath.Glob(filepath.Join(s.remote, "deltas", "*"))
	if len(deltas) != 1 {
		t.Fatalf("deltas: %v", deltas)
	}
	b, _ := os.ReadFile(deltas[0])
	b[len(b)/3] ^= 1
	os.WriteFile(deltas[0], b, 0o644)
	dst := filepath.Join(t.TempDir(), "out")
	r := run(t, t.TempDir(), "restore", "--remote", s.remote, "--recovery-key-file", s.keyFile, "--to", dst)
	r.want(t, 6, filepath.Base(deltas[0]))
	run(t, s.home, "check", "--config", s.cfg, "--read-data").want(t, 6, filepath.Base(deltas[0]))
}

func TestUsageErrors(t *testing.T) {
	home := t.TempDir()
	run(t, home, "backup", "--no-such-flag").want(t, 2, "unknown flag")
	run(t, home, "init").want(t, 2, "--source")
	run(t, home, "init", "--source", filepath.Join(home, "missing")).want(t, 2, "not a directory")
	run(t, home, "backup").want(t, 2, "chatsafe init")
	bad := filepath.Join(home, "bad.yaml")
	os.WriteFile(bad, []byte("source: /tmp\nsync:\n  quiet_perod: 2s\n"), 0o600)
	run(t, home, "backup", "--config", bad).want(t, 2, "bad.yaml:3")
}

func TestUnreachableRemoteExit5(t *testing.T) {
	s := newSetup(t)
	dst := filepath.Join(t.TempDir(), "out")
	// --retry-for bounds the retries (without it, about 45s of backoff).
	run(t, t.TempDir(), "--retry-for", "2s", "restore", "--remote", ":webdav,url='http://127.0.0.1:1':x", "--recovery-key-file", s.keyFile, "--to", dst).want(t, 5, "unreachable")
}
