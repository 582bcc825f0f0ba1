// Package installguard keeps test binaries off the machine's own chatsafe
// installation. As root, chatsafe's defaults are /etc/chatsafe,
// /var/lib/chatsafe and /run/chatsafe, where a real daemon may run; a
// test passes explicit paths, and one that forgets (or whose state
// directory is too long for a socket address, which sends the socket to
// the runtime directory) would write there unnoticed. Run notes what is
// there before the tests and fails the binary when they left something
// new: one of those directories made, or a socket of another state
// directory (chatsafe-HASH.sock) in /run/chatsafe. A real daemon's own
// files are left out of it: its state changes by itself.
package installguard

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// Dirs are the system installation's directories on Linux.
var Dirs = []string{"/etc/chatsafe", "/var/lib/chatsafe", "/run/chatsafe"}

// runtimeDir holds the system daemon's socket and, under hashed names,
// those of other state directories too long for a socket address.
const runtimeDir = "/run/chatsafe"

// Run runs m's tests and returns m's exit code, or 1 when the tests left
// something new in the system installation's directories (said on
// stderr): a TestMain calls it in place of m.Run.
func Run(m *testing.M) int {
	before := Look()
	code := m.Run()
	if msg := Compare(before, Look()); msg != "" {
		fmt.Fprintln(os.Stderr, "installguard: the tests touched the machine's own chatsafe installation:", msg)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// View is what Look saw.
type View struct {
	exists  map[string]bool
	sockets []string // hashed sockets in runtimeDir
}

// Look notes which of Dirs exist and the hashed sockets in runtimeDir.
// Only Linux has these defaults.
func Look() View {
	v := View{exists: map[string]bool{}}
	if runtime.GOOS != "linux" {
		return v
	}
	for _, d := range Dirs {
		_, err := os.Lstat(d)
		v.exists[d] = err == nil
	}
	names, _ := filepath.Glob(filepath.Join(runtimeDir, "chatsafe-*.sock"))
	v.sockets = names
	return v
}

// Compare says what after has that before had not, or "".
func Compare(before, after View) string {
	var news []string
	for _, d := range Dirs {
		if after.exists[d] && !before.exists[d] {
			news = append(news, d+" was made")
		}
	}
	for _, s := range after.sockets {
		if !slices.Contains(before.sockets, s) {
			news = append(news, s+" was left (a state directory too long for a socket address?)")
		}
	}
	return strings.Join(news, "; ")
}
