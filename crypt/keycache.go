package crypt

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
)

// The local key cache is a small text file so a person can recognise it:
//
//	chatsafe backup key v1\n
//	<64 lowercase hex digits>\n
const keyCacheHeader = "chatsafe backup key v1\n"

var (
	// ErrKeyCacheInsecure is wrapped when the key cache file can be read or
	// written by users other than its owner.
	ErrKeyCacheInsecure = errors.New("key cache is accessible by other users")
	// ErrSecretFileInsecure is wrapped when a password file can be read
	// or written by users other than its owner.
	ErrSecretFileInsecure = errors.New("secret file is accessible by other users")
	// ErrKeyCacheCorrupt is wrapped when the key cache file does not hold a key
	// in the expected format.
	ErrKeyCacheCorrupt = errors.New("key cache is corrupt")
)

// maxSecretFile bounds what is read from a key cache or secret file, so a
// wrong path (a log, a disk image) fails fast instead of filling memory.
const maxSecretFile = 64 << 10

// WriteKeyCache stores k at path with mode 0600, atomically: a temporary file
// in the same directory is written, synced and renamed over path, then the
// directory is synced. A missing parent directory is created with mode 0700.
func WriteKeyCache(path string, k Key) error {
	buf := make([]byte, 0, len(keyCacheHeader)+2*KeySize+1)
	buf = append(buf, keyCacheHeader...)
	buf = hex.AppendEncode(buf, k[:])
	buf = append(buf, '\n')
	defer clear(buf)
	if err := writeFileAtomic(path, buf); err != nil {
		return fmt.Errorf("write key cache: %w", err)
	}
	return nil
}

// ReadKeyCache loads the key written by WriteKeyCache. Like ssh with private
// keys, it refuses a file whose mode gives any access to group or others
// (error wrapping ErrKeyCacheInsecure, with the chmod command that fixes it).
// A missing file gives an error wrapping fs.ErrNotExist; content that is not a
// key cache gives an error wrapping ErrKeyCacheCorrupt.
func ReadKeyCache(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("read key cache: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("read key cache: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Key{}, fmt.Errorf("%w: %s is not a regular file (%s)", ErrKeyCacheCorrupt, path, st.Mode().Type())
	}
	if err := checkPrivate("key cache", path, st, ErrKeyCacheInsecure); err != nil {
		return Key{}, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	defer clear(data)
	if err != nil {
		return Key{}, fmt.Errorf("read key cache: %w", err)
	}
	k, why := parseKeyCache(data)
	if why != "" {
		return Key{}, fmt.Errorf("%w: %s (%s)", ErrKeyCacheCorrupt, path, why)
	}
	return k, nil
}

// checkPrivate refuses, like ssh with private keys, a file whose mode
// gives any access to group or others. Windows has no Unix permission bits
// (os reports 0666/0444); there the file's ACL, inherited from the user's
// profile directory, protects it.
func checkPrivate(what, path string, st os.FileInfo, sentinel error) error {
	perm := st.Mode().Perm()
	if runtime.GOOS == "windows" || perm&0o077 == 0 {
		return nil
	}
	how := "readable"
	if perm&0o044 == 0 {
		how = "accessible"
	}
	return insecureFileError{fmt.Sprintf("%s %s is %s by others (mode %04o): run chmod 600 %s", what, path, how, perm, path), sentinel}
}

// insecureFileError is checkPrivate's refusal: its own text says all, and
// it is (errors.Is) its sentinel.
type insecureFileError struct {
	msg      string
	sentinel error
}

func (e insecureFileError) Error() string { return e.msg }
func (e insecureFileError) Unwrap() error { return e.sentinel }

// parseKeyCache returns the key, or a short reason (never content) why data
// is not a key cache.
func parseKeyCache(data []byte) (Key, string) {
	rest, ok := bytes.CutPrefix(data, []byte(keyCacheHeader))
	if !ok {
		return Key{}, "it does not start with \"chatsafe backup key v1\""
	}
	// Tolerate a missing or CRLF final newline: an editor may have touched it.
	rest = bytes.TrimSuffix(rest, []byte("\n"))
	rest = bytes.TrimSuffix(rest, []byte("\r"))
	if len(rest) != 2*KeySize {
		return Key{}, fmt.Sprintf("the key line has %d characters, want %d hex digits", len(rest), 2*KeySize)
	}
	var k Key
	if _, err := hex.Decode(k[:], rest); err != nil {
		return Key{}, "the key line is not hex"
	}
	return k, ""
}

// WriteSecretFile writes data to path atomically with mode 0600 (used for the
// recovery-key file). A missing parent directory is created with mode 0700.
func WriteSecretFile(path string, data []byte) error {
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("write secret file: %w", err)
	}
	return nil
}

// ReadSecretFile reads a password or recovery-key file written by a person and
// strips trailing newlines (CR and LF) only, so passwords keep their spaces.
// It does not check the file's mode: such files are often 0644, and the
// caller decides. Files over 64 KiB are refused as a likely wrong path.
func ReadSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		clear(data)
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	if len(data) > maxSecretFile {
		clear(data)
		return nil, fmt.Errorf("read secret file %s: it is larger than %d KiB, which is not a password or recovery key: check the path", path, maxSecretFile>>10)
	}
	return bytes.TrimRight(data, "\r\n"), nil
}

// ReadPrivateSecretFile is ReadSecretFile for a file that must be private
// to its owner, such as the vault password file used unattended: one that
// group or others may access is refused (error wrapping
// ErrSecretFileInsecure, with the chmod command that fixes it).
func ReadPrivateSecretFile(what, path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if err := checkPrivate(what, path, st, ErrSecretFileInsecure); err != nil {
		return nil, err
	}
	return ReadSecretFile(path)
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old file or the new one, never a torn or empty file.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory for %s: %w", path, err)
	}
	// CreateTemp makes the file with mode 0600 (umask can only remove bits).
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file next to %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// Explicit, in case the platform's CreateTemp default ever differs.
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("set mode 0600 on %s: %w", tmp.Name(), err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for sync on Windows
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s to sync it: %w", dir, err)
	}
	defer d.Close()
	// Some filesystems (FUSE, SMB) cannot sync a directory and say EINVAL;
	// the rename has still happened, so that is not a failure.
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
