package logs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// With File set the lines go to the file (0600) as well as to Out, in the
// same schema and with the same redaction; an Out that fails (a Windows
// service's stderr) costs the file nothing.
func TestLogFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "chatsafe.log")
	for _, out := range []interface {
		Write([]byte) (int, error)
	}{&bytes.Buffer{}, failingWriter{}} {
		l, err := New(Options{Level: "info", Format: "text", Out: out, File: path})
		if err != nil {
			t.Fatal(err)
		}
		l.Named("daemon").Warn("remote failing", zap.String("remote", "r0"), zap.String("token", "s3cr3t"))
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if b, ok := out.(*bytes.Buffer); ok && !strings.Contains(b.String(), "remote failing") {
			t.Errorf("Out did not get the line: %q", b.String())
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\tWARN\tdaemon\tremote failing\t"); n != 2 || strings.Contains(string(b), "s3cr3t") || strings.Contains(string(b), "\x1b[") {
		t.Fatalf("log file (want 2 plain, redacted lines, appended):\n%s", b)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("log file mode: %v %v", info, err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no stderr") }

// Past its limit the file moves to FILE.1 and a new one starts: at most
// two files, each within the limit.
func TestLogFileRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chatsafe.log")
	r, err := openRotating(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	line := []byte(strings.Repeat("x", 39) + "\n")
	for range 7 {
		if _, err := r.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	cur, err1 := os.ReadFile(path)
	old, err2 := os.ReadFile(path + ".1")
	if err1 != nil || err2 != nil || len(cur) != 40 || len(old) != 80 {
		t.Fatalf("after 7 lines of 40 bytes with a limit of 100: %s has %d bytes (%v), .1 has %d (%v)", path, len(cur), err1, len(old), err2)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 2 {
		t.Fatalf("want the file and one older file, got %v", entries)
	}
}
