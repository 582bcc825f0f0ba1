package service

import (
	"strings"
	"testing"
)

// Render names the file Install writes: Manager.Path, for the system and
// the user unit of every service manager (Windows keeps its service in the
// registry, and has no user service).
func TestRenderNamesManagerPath(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	systemd := systemByName(t, "linux-systemd")
	for _, goos := range []string{"linux", "darwin", "windows"} {
		for _, user := range []bool{false, true} {
			if goos == "windows" && user {
				continue
			}
			u := systemUnit()
			if user {
				u = userUnit()
			}
			m, err := newManager(user, u.ConfigPath, host{goos: goos, system: systemd, systemdBooted: true, euid: 1000, home: home})
			if err != nil {
				t.Fatal(err)
			}
			s, err := Render(goos, u)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.SplitN(s, "\n", 3)
			where := lines[0]
			if goos == "darwin" {
				where = lines[1] // after the XML declaration
			}
			switch {
			case goos == "windows":
				if m.Path() != "" || !strings.Contains(where, "registry") {
					t.Errorf("windows: Path %q, Render says %q", m.Path(), where)
				}
			case m.Path() == "" || !strings.Contains(where, " "+m.Path()+" ") && !strings.HasSuffix(where, " "+m.Path()):
				t.Errorf("%s user=%v: Render says %q, Manager.Path is %q", goos, user, where, m.Path())
			}
		}
	}
}
