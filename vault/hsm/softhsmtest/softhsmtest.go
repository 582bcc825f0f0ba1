// Package softhsmtest gives tests a fresh SoftHSM2 token of their own: a
// token directory and softhsm2.conf in a temporary directory, selected
// through SOFTHSM2_CONF for the rest of the test. scripts/test installs
// SoftHSM2 (Debian package softhsm2).
package softhsmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Module is where Debian's softhsm2 package puts the PKCS#11 library.
const Module = "/usr/lib/softhsm/libsofthsm2.so"

// Token is an initialised SoftHSM2 token.
type Token struct {
	Module, Label, PIN string
	Conf               string // the softhsm2.conf in use
}

// New initialises a token labelled label in a temporary directory and
// points SOFTHSM2_CONF at it (so the test must not run in parallel).
// It fails the test when SoftHSM2 is not installed: run scripts/test, or
// apt-get install softhsm2.
func New(t testing.TB, label string) Token {
	t.Helper()
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		t.Fatal("softhsm2-util not found: install SoftHSM2 (apt-get install softhsm2; scripts/test does it)")
	}
	if _, err := os.Stat(Module); err != nil {
		t.Fatalf("SoftHSM2 PKCS#11 module: %v", err)
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	tok := Token{Module: Module, Label: label, PIN: "4711-test", Conf: conf}
	cmd := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", tok.PIN, "--so-pin", "so-4711-test")
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return tok
}
