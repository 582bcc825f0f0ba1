package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/store"
	"github.com/chatsafe/chatsafe/vault"
	vaultclient "github.com/chatsafe/chatsafe/vault/client"
)

// rotateSetup is a repository with three snapshots, the last of a
// change the test knows.
func rotateSetup(t *testing.T) setup {
	s := newSetup(t)
	for i := 0; i < 3; i++ {
		os.WriteFile(filepath.Join(s.src, fmt.Sprintf("n%d.txt", i)), []byte(fmt.Sprint("note ", i)), 0o644)
		run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	}
	return s
}

// checkRotated asserts what a finished rotation leaves: check passes,
// the old recovery key opens nothing (exit 3, and no object on the remote
// authenticates under it), the new one restores the latest snapshot
// exactly, and the remote holds no rotation marker.
func checkRotated(t *testing.T, s setup, newKeyFile string) {
	t.Helper()
	run(t, s.home, "check", "--config", s.cfg, "--read-data").want(t, 0, "no errors")
	run(t, t.TempDir(), "restore", "--remote", s.remote, "--recovery-key-file", s.keyFile, "--to", filepath.Join(t.TempDir(), "old")).want(t, 3, "rotated")
	oldKey := readKeyFile(t, s.keyFile)
	rem, err := remotes.Open(t.Context(), s.remote, remotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rem.Close()
	if open, err := store.ObjectsOpeningWith(t.Context(), rem, oldKey); err != nil || len(open) != 0 {
		t.Fatalf("objects opening with the old key: %v %v", open, err)
	}
	if _, err := os.Stat(filepath.Join(s.remote, store.RotatingObject)); !os.IsNotExist(err) {
		t.Fatalf("rotation marker left: %v", err)
	}
	dst := filepath.Join(t.TempDir(), "out")
	run(t, t.TempDir(), "restore", "--remote", s.remote, "--recovery-key-file", newKeyFile, "--to", dst).want(t, 0, "restored")
	for i := 0; i < 3; i++ {
		if b, err := os.ReadFile(filepath.Join(dst, fmt.Sprintf("n%d.txt", i))); err != nil || string(b) != fmt.Sprint("note ", i) {
			t.Fatalf("restored n%d.txt: %q %v", i, b, err)
		}
	}
	if a, b := dirDigest(t, s.src), dirDigest(t, dst); a != b {
		t.Fatalf("restore after rotation differs:\n%s\n%s", a, b)
	}
	run(t, s.home, "snapshots", "--config", s.cfg).want(t, 0, "")
}

func readKeyFile(t *testing.T, p string) crypt.Key {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	k, err := crypt.ParseRecoveryKey(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func dirDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		if d.Type().IsRegular() {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, "%s %d %x\n", rel, len(data), crypt.NewIDHasher([32]byte{}).Sum(data))
		}
		return nil
	})
	return b.String()
}

func TestKeyRotate(t *testing.T) {
	s := rotateSetup(t)
	newKeyFile := filepath.Join(s.home, "new-key.txt")
	os.WriteFile(newKeyFile, []byte("taken"), 0o600)
	run(t, s.home, "key", "rotate", "--config", s.cfg, "--recovery-key-out", newKeyFile).want(t, 2, "never overwrites")
	os.Remove(newKeyFile)
	r := run(t, s.home, "key", "rotate", "--config", s.cfg, "--recovery-key-out", newKeyFile)
	r.want(t, 0, "NEW RECOVERY KEY")
	if k := readKeyFile(t, newKeyFile); !strings.Contains(r.stdout, k.RecoveryKey()) {
		t.Fatalf("the printed key is not the one written:\n%s", r.stdout)
	}
	checkRotated(t, s, newKeyFile)
	// Backups go on under the new key.
	os.WriteFile(filepath.Join(s.src, "after.txt"), []byte("after"), 0o644)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 0, "saved")
	run(t, s.home, "check", "--config", s.cfg, "--read-data").want(t, 0, "no errors")
}

// A real kill -9 at each step of a rotation, then the rotation run again:
// it finishes, and the repository is as after an uninterrupted one.
func TestKill9DuringKeyRotate(t *testing.T) {
	for _, point := range []string{"rotate:journal", "rotate:marked", "rotate:spooled", "rotate:uploaded",
		"rotate:resealed", "rotate:switched", "rotate:key-cached", "prune:deleted-one", "rotate:deleted"} {
		t.Run(point, func(t *testing.T) {
			s := rotateSetup(t)
			runCrash(t, s.home, point, "key", "rotate", "--config", s.cfg)
			if point == "rotate:uploaded" {
				// Mid-rotation, the old key gets a clear answer, not damage.
				run(t, t.TempDir(), "restore", "--remote", s.remote, "--recovery-key-file", s.keyFile, "--to", filepath.Join(t.TempDir(), "x")).want(t, 3, "being rotated")
			}
			newKeyFile := filepath.Join(s.home, "new-key.txt")
			run(t, s.home, "key", "rotate", "--config", s.cfg, "--recovery-key-out", newKeyFile).want(t, 0, "NEW RECOVERY KEY")
			checkRotated(t, s, newKeyFile)
		})
	}
}

// joinSecondDevice joins a second device to s's repository with the
// recovery key; join is its command, whose last argument is the key file.
func joinSecondDevice(t *testing.T, s setup) (bHome, bCfg, bSrc string, join []string) {
	t.Helper()
	bHome = t.TempDir()
	bCfg, bState := filepath.Join(bHome, "b.yaml"), filepath.Join(bHome, "state")
	bSrc = filepath.Join(bHome, "src")
	os.MkdirAll(bSrc, 0o755)
	join = []string{"init", "--join", "--source", bSrc, "--remote", s.remote, "--config", bCfg, "--state-dir", bState, "--recovery-key-file", s.keyFile}
	run(t, bHome, join...).want(t, 0, "")
	return bHome, bCfg, bSrc, join
}

// A device that joined before the rotation is told to join again (exit
// 3), and can, with the new recovery key and its old state directory.
func TestKeyRotateJoinedDevice(t *testing.T) {
	s := rotateSetup(t)
	bHome, bCfg, _, join := joinSecondDevice(t, s)
	newKeyFile := filepath.Join(s.home, "new-key.txt")
	run(t, s.home, "key", "rotate", "--config", s.cfg, "--recovery-key-out", newKeyFile).want(t, 0, "NEW RECOVERY KEY")
	run(t, bHome, "snapshots", "--config", bCfg).want(t, 3, "join again")
	os.Remove(bCfg)
	join[len(join)-1] = newKeyFile
	run(t, bHome, join...).want(t, 0, "")
	run(t, bHome, "snapshots", "--config", bCfg).want(t, 0, "")
	if k := readKeyFile(t, newKeyFile); run(t, bHome, "key", "show", "--config", bCfg).stdout != k.RecoveryKey()+"\n" {
		t.Fatal("the joined device does not cache the new key")
	}
}

// A device that wrote before, was taken over, and joins again after the
// rotation is the writer, as the join says: its backup saves, and the
// device that rotated is the one told it was taken over.
func TestKeyRotateRejoinedDeviceWrites(t *testing.T) {
	s := rotateSetup(t)
	bHome, bCfg, bSrc, join := joinSecondDevice(t, s)
	os.WriteFile(filepath.Join(bSrc, "b1.txt"), []byte("b, day 1"), 0o644)
	run(t, bHome, "backup", "--config", bCfg).want(t, 0, "saved")
	run(t, s.home, "takeover", "--config", s.cfg).want(t, 0, "writes the repository again")
	newKeyFile := filepath.Join(s.home, "new-key.txt")
	run(t, s.home, "key", "rotate", "--config", s.cfg, "--recovery-key-out", newKeyFile).want(t, 0, "NEW RECOVERY KEY")
	os.Remove(bCfg)
	join[len(join)-1] = newKeyFile
	run(t, bHome, join...).want(t, 0, "this device writes the repository")
	os.WriteFile(filepath.Join(bSrc, "b2.txt"), []byte("b, day 2"), 0o644)
	run(t, bHome, "backup", "--config", bCfg).want(t, 0, "saved")
	os.WriteFile(filepath.Join(s.src, "a.txt"), []byte("a, after"), 0o644)
	run(t, s.home, "backup", "--config", s.cfg).want(t, 7, "taken over")
	run(t, bHome, "check", "--config", bCfg).want(t, 0, "no errors")
}

// rotate refuses while another process (the daemon) holds the state
// directory, and says to stop it; nothing is changed.
func TestKeyRotateRefusesWhileLocked(t *testing.T) {
	s := rotateSetup(t)
	cfg, err := (&globalOptions{}).loadConfig(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	rem, err := remotes.Open(t.Context(), s.remote, remotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rem.Close()
	held, err := store.Open(t.Context(), rem, readKeyFile(t, s.keyFile), store.Options{StateDir: cfg.StateDir})
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, s.home, "key", "rotate", "--config", s.cfg)
	r.want(t, exitStateInUse, "stop it")
	if n := strings.Count(r.stderr, "stop it"); n != 1 {
		t.Errorf("the refusal says to stop the daemon %d times: %s", n, r.stderr)
	}
	held.Close()
	if _, err := os.Stat(store.RotateJournalPath(cfg.StateDir)); !os.IsNotExist(err) {
		t.Fatalf("a refused rotation left a journal: %v", err)
	}
	run(t, t.TempDir(), "restore", "--remote", s.remote, "--recovery-key-file", s.keyFile, "--to", filepath.Join(t.TempDir(), "x")).want(t, 0, "restored")
}

// Rotation over two remotes, the second one rclone's WebDAV server: both
// get the new deltas and config, neither keeps an object that opens with
// the old key, and each restores exactly with the new key.
func TestKeyRotateTwoRemotesWebDAV(t *testing.T) {
	dav := remotetest.StartWebDAV(t, t.TempDir())
	home := t.TempDir()
	src, local := filepath.Join(home, "chats"), filepath.Join(home, "remote")
	cfg, oldKeyFile, newKeyFile := filepath.Join(home, "c.yaml"), filepath.Join(home, "old.txt"), filepath.Join(home, "new.txt")
	os.MkdirAll(filepath.Join(src, "Media"), 0o755)
	os.WriteFile(filepath.Join(src, "Media", "a.jpg"), bytes.Repeat([]byte{0xff, 0xd8, 7}, 40000), 0o644)
	run(t, home, "init", "--source", src, "--remote", local, "--remote", dav.Spec, "--config", cfg, "--state-dir", filepath.Join(home, "state"), "--recovery-key-out", oldKeyFile).want(t, 0, "recovery key")
	run(t, home, "backup", "--config", cfg).want(t, 0, "saved")
	os.WriteFile(filepath.Join(src, "chat.txt"), []byte("second snapshot"), 0o644)
	run(t, home, "backup", "--config", cfg).want(t, 0, "saved")
	run(t, home, "key", "rotate", "--config", cfg, "--recovery-key-out", newKeyFile).want(t, 0, "NEW RECOVERY KEY")
	oldKey := readKeyFile(t, oldKeyFile)
	for _, spec := range []string{local, dav.Spec} {
		rem, err := remotes.Open(t.Context(), spec, remotes.Options{})
		if err != nil {
			t.Fatal(err)
		}
		open, err := store.ObjectsOpeningWith(t.Context(), rem, oldKey)
		rem.Close()
		if err != nil || len(open) != 0 {
			t.Fatalf("%s: objects opening with the old key: %v %v", spec, open, err)
		}
		run(t, t.TempDir(), "restore", "--remote", spec, "--recovery-key-file", oldKeyFile, "--to", filepath.Join(t.TempDir(), "x")).want(t, 3, "rotated")
		dst := filepath.Join(t.TempDir(), "out")
		run(t, t.TempDir(), "restore", "--remote", spec, "--recovery-key-file", newKeyFile, "--to", dst).want(t, 0, "restored")
		if a, b := dirDigest(t, src), dirDigest(t, dst); a != b {
			t.Fatalf("%s: restore after rotation differs:\n%s\n%s", spec, a, b)
		}
		run(t, t.TempDir(), "snapshots", "--remote", spec, "--recovery-key-file", newKeyFile).want(t, 0, "")
	}
	run(t, home, "check", "--config", cfg, "--read-data").want(t, 0, "no errors")
}

// A run killed after the clean-up, before it forgot its journal, is
// finished by the same command and shows the same key; a file holding that
// key is not "already there", any other file is, and is left alone.
func TestKeyRotateResumeKeepsItsKeyFile(t *testing.T) {
	s := rotateSetup(t)
	runCrash(t, s.home, "rotate:deleted", "key", "rotate", "--config", s.cfg)
	cfg, err := (&globalOptions{}).loadConfig(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	j, err := store.LoadRotateJournal(cfg.StateDir)
	if err != nil || j == nil {
		t.Fatalf("journal after the kill: %v %v", j, err)
	}
	k, _ := j.Key()
	other := filepath.Join(s.home, "other.txt")
	os.WriteFile(other, []byte("someone else's file"), 0o600)
	run(t, s.home, "key", "rotate", "--config", s.cfg, "--recovery-key-out", other).want(t, 2, "never overwrites")
	if b, _ := os.ReadFile(other); string(b) != "someone else's file" {
		t.Fatalf("another file was overwritten: %q", b)
	}
	newKeyFile := filepath.Join(s.home, "new-key.txt")
	os.WriteFile(newKeyFile, []byte(k.RecoveryKey()+"\n"), 0o600)
	run(t, s.home, "key", "rotate", "--config", s.cfg, "--recovery-key-out", newKeyFile).want(t, 0, k.RecoveryKey())
	if j, err := store.LoadRotateJournal(cfg.StateDir); j != nil || err != nil {
		t.Fatalf("journal after the finished rotation: %v %v", j, err)
	}
	checkRotated(t, s, newKeyFile)
}

// vaultRotate is an installation whose key is kept by a real vault (HTTPS
// on loopback), with two snapshots and its old recovery key in a file.
type vaultRotate struct {
	home, cfg, remote, url, ca, pw, oldKeyFile string
}

func vaultRotateSetup(t *testing.T) vaultRotate {
	url, ca := startVault(t)
	home := t.TempDir()
	v := vaultRotate{home: home, cfg: filepath.Join(home, "cfg.yaml"), remote: filepath.Join(home, "remote"), url: url, ca: ca, pw: filepath.Join(home, "pw"), oldKeyFile: filepath.Join(home, "old-key.txt")}
	src := filepath.Join(home, "chats")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "msg.txt"), []byte("kept behind a password"), 0o644)
	os.WriteFile(v.pw, []byte("correct horse battery staple\n"), 0o600)
	run(t, home, append([]string{"init", "--source", src, "--remote", v.remote, "--config", v.cfg, "--state-dir", filepath.Join(home, "state")}, v.vaultArgs()...)...).want(t, 0, "kept by the vault")
	run(t, home, "backup", "--config", v.cfg).want(t, 0, "saved")
	os.WriteFile(filepath.Join(src, "second.txt"), []byte("second snapshot"), 0o644)
	run(t, home, "backup", "--config", v.cfg).want(t, 0, "saved")
	key := run(t, home, "key", "show", "--config", v.cfg)
	key.want(t, 0, "-")
	os.WriteFile(v.oldKeyFile, []byte(key.stdout), 0o600)
	return v
}

func (v vaultRotate) vaultArgs() []string {
	return []string{"--vault", v.url, "--vault-ca", v.ca, "--account", "alice", "--password-file", v.pw}
}

// checkVaultRotated asserts what a finished rotation of a vault-kept key
// leaves: a new device recovers the new key with the same password and
// restores; backups go on; the old key opens nothing, and its owner token can neither
// register the account again nor delete it; the new key owns it.
func checkVaultRotated(t *testing.T, v vaultRotate, newKeyFile string) {
	t.Helper()
	// Backups go on under the new key, the vault still the commit point
	// (its head record follows the re-sealed deltas).
	os.WriteFile(filepath.Join(v.home, "chats", "after.txt"), []byte("after"), 0o644)
	run(t, v.home, "backup", "--config", v.cfg).want(t, 0, "saved")
	dst := filepath.Join(t.TempDir(), "out")
	run(t, t.TempDir(), append([]string{"restore", "--remote", v.remote, "--to", dst}, v.vaultArgs()...)...).want(t, 0, "restored")
	for name, want := range map[string]string{"msg.txt": "kept behind a password", "second.txt": "second snapshot"} {
		if b, err := os.ReadFile(filepath.Join(dst, name)); err != nil || string(b) != want {
			t.Fatalf("restored %s: %q %v", name, b, err)
		}
	}
	run(t, t.TempDir(), "restore", "--remote", v.remote, "--recovery-key-file", v.oldKeyFile, "--to", filepath.Join(t.TempDir(), "old")).want(t, 3, "rotated")
	run(t, t.TempDir(), "restore", "--remote", v.remote, "--recovery-key-file", newKeyFile, "--to", filepath.Join(t.TempDir(), "new")).want(t, 0, "restored")
	// A new device's config: the key it fetches from the vault is the new one.
	nHome := t.TempDir()
	nCfg := filepath.Join(nHome, "n.yaml")
	nSrc := filepath.Join(nHome, "src")
	os.MkdirAll(nSrc, 0o755)
	run(t, nHome, append([]string{"init", "--join", "--source", nSrc, "--remote", v.remote, "--config", nCfg, "--state-dir", filepath.Join(nHome, "state")}, v.vaultArgs()...)...).want(t, 0, "")
	newKey := readKeyFile(t, newKeyFile)
	if got := run(t, nHome, "key", "show", "--config", nCfg).stdout; got != newKey.RecoveryKey()+"\n" {
		t.Fatalf("the key recovered from the vault is not the new one: %q", got)
	}
	if _, err := os.Stat(filepath.Join(v.home, "state", "rotate-vault-old-key")); !os.IsNotExist(err) {
		t.Fatalf("the old key is still kept in the state directory: %v", err)
	}
	c, err := vaultclient.New(vaultclient.Options{URLs: []string{v.url}, CAFile: v.ca})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	oldKey := readKeyFile(t, v.oldKeyFile)
	pw := []byte("correct horse battery staple")
	if _, err := c.Register(t.Context(), "alice", pw, oldKey); !errors.Is(err, vault.ErrNotOwner) {
		t.Fatalf("registering with the old key after the rotation: %v, want ErrNotOwner", err)
	}
	if _, err := c.Reregister(t.Context(), "alice", pw, oldKey, oldKey); !errors.Is(err, vault.ErrNotOwner) {
		t.Fatalf("re-registering with the old owner token after the rotation: %v, want ErrNotOwner", err)
	}
	if err := c.Delete(t.Context(), "alice", oldKey); !errors.Is(err, vault.ErrNotOwner) {
		t.Fatalf("deleting with the old key after the rotation: %v, want ErrNotOwner", err)
	}
	if err := c.Delete(t.Context(), "alice", newKey); err != nil {
		t.Fatalf("deleting with the new key: %v", err)
	}
}

func TestKeyRotateVault(t *testing.T) {
	v := vaultRotateSetup(t)
	newKeyFile := filepath.Join(v.home, "new-key.txt")
	run(t, v.home, "key", "rotate", "--config", v.cfg, "--recovery-key-out", newKeyFile).want(t, 0, "the vault now keeps the new key")
	checkVaultRotated(t, v, newKeyFile)
}

// A kill -9 after the vault took the new key, before the remotes got its
// handle, and a kill just before the vault step: a re-run finishes both.
func TestKill9DuringKeyRotateVault(t *testing.T) {
	for _, point := range []string{"rotate:key-cached", "rotate:vault"} {
		t.Run(point, func(t *testing.T) {
			v := vaultRotateSetup(t)
			runCrash(t, v.home, point, "key", "rotate", "--config", v.cfg)
			newKeyFile := filepath.Join(v.home, "new-key.txt")
			run(t, v.home, "key", "rotate", "--config", v.cfg, "--recovery-key-out", newKeyFile).want(t, 0, "the vault now keeps the new key")
			checkVaultRotated(t, v, newKeyFile)
		})
	}
}

// Before anything changes, the rotation checks the vault password and
// reaches the vault: a wrong password file gets exit 3, an unreachable
// vault exit 5, and neither leaves a journal. An unreachable vault after
// the switch gets exit 5, and a re-run with the vault back finishes.
func TestKeyRotateVaultUnreachable(t *testing.T) {
	v := vaultRotateSetup(t)
	journal := store.RotateJournalPath(filepath.Join(v.home, "state"))
	noJournal := func() {
		t.Helper()
		if _, err := os.Stat(journal); !os.IsNotExist(err) {
			t.Fatalf("a refused rotation left a journal: %v", err)
		}
	}
	os.WriteFile(v.pw, []byte("not the vault password\n"), 0o600)
	run(t, v.home, "key", "rotate", "--config", v.cfg).want(t, 3, "nothing was changed")
	noJournal()
	os.WriteFile(v.pw, []byte("correct horse battery staple\n"), 0o600)
	conf, err := os.ReadFile(v.cfg)
	if err != nil || !bytes.Contains(conf, []byte(v.url)) {
		t.Fatalf("config without the vault URL: %v", err)
	}
	unreachable := bytes.ReplaceAll(conf, []byte(v.url), []byte("https://127.0.0.1:1"))
	os.WriteFile(v.cfg, unreachable, 0o600)
	run(t, v.home, "key", "rotate", "--config", v.cfg).want(t, 5, "nothing was changed")
	noJournal()
	os.WriteFile(v.cfg, conf, 0o600)
	runCrash(t, v.home, "rotate:key-cached", "key", "rotate", "--config", v.cfg)
	os.WriteFile(v.cfg, unreachable, 0o600)
	run(t, v.home, "key", "rotate", "--config", v.cfg).want(t, 5, "key rotate` again once the vault is reachable")
	os.WriteFile(v.cfg, conf, 0o600)
	newKeyFile := filepath.Join(v.home, "new-key.txt")
	run(t, v.home, "key", "rotate", "--config", v.cfg, "--recovery-key-out", newKeyFile).want(t, 0, "finished the interrupted key rotation")
	checkVaultRotated(t, v, newKeyFile)
}
