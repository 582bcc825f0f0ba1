package crypt

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyCacheRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "nested", "key")
	k := testKey(t)
	if err := WriteKeyCache(path, k); err != nil {
		t.Fatal(err)
	}
	got, err := ReadKeyCache(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != k {
		t.Fatal("key cache did not round-trip")
	}

	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key cache mode %04o, want 0600", st.Mode().Perm())
	}
	for _, d := range []string{filepath.Join(dir, "state"), filepath.Dir(path)} {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Fatalf("created directory %s has mode %04o, want 0700", d, st.Mode().Perm())
		}
	}

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "chatsafe backup key v1\n" + hex.EncodeToString(k[:]) + "\n"
	if string(raw) != want {
		t.Fatalf("key cache content %q, want %q", raw, want)
	}

	// Overwrite with another key; no temporary files may be left behind.
	k2, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyCache(path, k2); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadKeyCache(path); err != nil || got != k2 {
		t.Fatalf("after overwrite: err %v, same key %v", err, got == k2)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries after two writes, want only the key cache", len(entries))
	}
}

func TestKeyCacheWriteIgnoresUmaskAndOldMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	// An existing world-readable file is replaced by a 0600 one.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyCache(path, testKey(t)); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o after replacing a 0644 file, want 0600", st.Mode().Perm())
	}
}

func TestKeyCacheInsecureMode(t *testing.T) {
	k := testKey(t)
	tests := []struct {
		mode os.FileMode
		what string
	}{
		{0o640, "readable by others (mode 0640)"},
		{0o604, "readable by others (mode 0604)"},
		{0o644, "readable by others (mode 0644)"},
		{0o620, "accessible by others (mode 0620)"},
		{0o601, "accessible by others (mode 0601)"},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key")
			if err := WriteKeyCache(path, k); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			got, err := ReadKeyCache(path)
			if !errors.Is(err, ErrKeyCacheInsecure) {
				t.Fatalf("err = %v, want ErrKeyCacheInsecure", err)
			}
			if got != (Key{}) {
				t.Fatal("an insecure key cache still returned the key")
			}
			msg := err.Error()
			for _, want := range []string{"key cache " + path + " is " + tt.what, "run chmod 600 " + path} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			// The advice is the end of it: the sentinel's own text would
			// say the same thing again.
			if !strings.HasSuffix(msg, "run chmod 600 "+path) {
				t.Errorf("error %q goes on after its advice", msg)
			}
		})
	}
}

func TestKeyCacheMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "key")
	_, err := ReadKeyCache(path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestKeyCacheCorrupt(t *testing.T) {
	k := testKey(t)
	h := hex.EncodeToString(k[:])
	tests := []struct {
		name    string
		content string
		ok      bool
	}{
		{"empty", "", false},
		{"no header", h + "\n", false},
		{"wrong version", "chatsafe backup key v2\n" + h + "\n", false},
		{"header only", "chatsafe backup key v1\n", false},
		{"short key", "chatsafe backup key v1\n" + h[:62] + "\n", false},
		{"long key", "chatsafe backup key v1\n" + h + "00\n", false},
		{"not hex", "chatsafe backup key v1\n" + "zz" + h[2:] + "\n", false},
		{"trailing data", "chatsafe backup key v1\n" + h + "\nmore\n", false},
		{"recovery key instead", k.RecoveryKey() + "\n", false},
		{"binary junk", string(bytes.Repeat([]byte{0xff, 0}, 5000)), false},
		{"huge", "chatsafe backup key v1\n" + strings.Repeat("0", 1<<20), false},
		// An editor may drop or change the final newline; the key is intact.
		{"no final newline", "chatsafe backup key v1\n" + h, true},
		{"CRLF final newline", "chatsafe backup key v1\n" + h + "\r\n", true},
		{"upper-case hex", "chatsafe backup key v1\n" + strings.ToUpper(h) + "\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadKeyCache(path)
			if tt.ok {
				if err != nil || got != k {
					t.Fatalf("err = %v, same key %v; want the key", err, got == k)
				}
				return
			}
			if !errors.Is(err, ErrKeyCacheCorrupt) {
				t.Fatalf("err = %v, want ErrKeyCacheCorrupt", err)
			}
			msg := err.Error()
			// The way out (`chatsafe key import` with the installation's
			// --config) is the caller's to add: it knows the installation.
			if !strings.Contains(msg, path) || strings.Count(msg, "corrupt") != 1 {
				t.Errorf("error %q does not name the file, or says it is corrupt more than once", msg)
			}
			if strings.Contains(strings.ToLower(msg), h[4:20]) {
				t.Errorf("error %q leaks file content", msg)
			}
		})
	}
}

func TestKeyCacheNotRegular(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadKeyCache(dir)
	if !errors.Is(err, ErrKeyCacheCorrupt) {
		t.Fatalf("reading a directory: err = %v, want ErrKeyCacheCorrupt", err)
	}
	if !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("error %q does not say the path is not a regular file", err)
	}
}

func TestKeyCacheWriteFails(t *testing.T) {
	dir := t.TempDir()
	// The parent "directory" is a regular file, so nothing can be created.
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteKeyCache(filepath.Join(blocker, "key"), testKey(t))
	if err == nil {
		t.Fatal("WriteKeyCache under a regular file succeeded")
	}
	if !strings.Contains(err.Error(), blocker) {
		t.Fatalf("error %q does not name the path", err)
	}
	// Renaming onto a directory fails; the temporary file must be removed.
	target := filepath.Join(dir, "isdir")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyCache(target, testKey(t)); err == nil {
		t.Fatal("WriteKeyCache onto a directory succeeded")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temporary file %s left behind after a failed write", e.Name())
		}
	}
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "recovery-key.txt")
	content := []byte("0A1B-2C3D\n")
	if err := WriteSecretFile(path, content); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %04o, want 0600", st.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(raw, content) {
		t.Fatalf("secret file holds %q (%v), want %q", raw, err, content)
	}

	tests := []struct {
		name, content, want string
	}{
		{"trailing LF", "pass word\n", "pass word"},
		{"trailing CRLF", "pass word\r\n", "pass word"},
		{"several newlines", "pw\n\n\n", "pw"},
		{"spaces kept", "  pw  \n", "  pw  "},
		{"no newline", "pw", "pw"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "pw")
			// Users write these files with their umask: 0644 is accepted.
			if err := os.WriteFile(p, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadSecretFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("ReadSecretFile = %q, want %q", got, tt.want)
			}
		})
	}

	if _, err := ReadSecretFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing secret file: err = %v, want fs.ErrNotExist", err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), 65<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSecretFile(big); err == nil || !strings.Contains(err.Error(), "check the path") {
		t.Fatalf("oversized secret file: err = %v, want a refusal", err)
	}
}
