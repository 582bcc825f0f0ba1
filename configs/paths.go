package configs

import (
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
)

// platform is what the default paths depend on: the operating system,
// whether this is the system's installation (root; on Windows an elevated
// administrator or LocalSystem) and the environment. defaultPaths takes it
// as input so every system's choice is tested on any.
type platform struct {
	goos   string
	system bool
	home   string
	getenv func(string) string
	// exists tells whether a directory is there (Windows: an installation
	// made before the state moved out of %AppData%); nil is "nothing is".
	exists func(string) bool
}

// paths are an installation's default locations.
type paths struct {
	Config  string // the config file
	State   string // the state directory
	Data    string // where the default local remote goes (Data/remote)
	Runtime string // the parent of the default socket's directory; "" for none
}

// geteuid is replaced in tests to exercise the non-root and root layouts.
var geteuid = os.Geteuid

// thisPlatform describes the running process.
func thisPlatform() platform {
	return platform{goos: runtime.GOOS, system: isSystem(), home: homeDir(), getenv: os.Getenv, exists: dirExists}
}

func dirExists(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.IsDir()
}

func homeDir() string {
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return h
	}
	// No $HOME (a bare service environment): fall back to something that
	// is at least absolute and private to the process owner.
	return filepath.Join(os.TempDir(), "chatsafe-home")
}

// defaultPaths follows each system's conventions (docs/platforms.md):
//
//   - Linux and other Unix: XDG for a user (~/.config/chatsafe/config.yaml,
//     ~/.local/state/chatsafe, ~/.local/share/chatsafe, $XDG_RUNTIME_DIR),
//     /etc/chatsafe, /var/lib/chatsafe and /run for root.
//   - macOS: ~/Library/Application Support/chatsafe for a user,
//     /Library/Application Support/chatsafe for root; the config file, the
//     state directory ("state") and the local remote ("remote") in it; no
//     runtime directory (/run does not exist there).
//   - Windows: for a user the config in %AppData%\chatsafe (Roaming: it
//     follows the user), the state directory and the local remote in
//     %LocalAppData%\chatsafe: domain roaming profiles copy all of Roaming
//     at every logon and logoff, and the state holds the spool (deltas of
//     up to 256 MiB) and caches. An installation from before, whose state
//     is %AppData%\chatsafe\state while %LocalAppData%\chatsafe\state does
//     not exist, keeps its state and local remote there (found and used,
//     never moved behind a running daemon's back). %ProgramData%\chatsafe
//     for the system (an elevated prompt, the service), laid out as on
//     macOS.
func defaultPaths(p platform) paths {
	switch p.goos {
	case "darwin":
		base := path.Join(p.home, "Library", "Application Support", "chatsafe")
		if p.system {
			base = "/Library/Application Support/chatsafe"
		}
		return paths{Config: path.Join(base, "config.yaml"), State: path.Join(base, "state"), Data: base}
	case "windows":
		return windowsPaths(p)
	}
	if p.system {
		return paths{Config: "/etc/chatsafe/config.yaml", State: "/var/lib/chatsafe", Data: "/var/lib/chatsafe/data", Runtime: "/run"}
	}
	// The XDG spec says relative values are to be ignored.
	xdg := func(env string, fallback ...string) string {
		if d := p.getenv(env); path.IsAbs(d) {
			return path.Clean(d)
		}
		return path.Join(append([]string{p.home}, fallback...)...)
	}
	out := paths{
		Config: path.Join(xdg("XDG_CONFIG_HOME", ".config"), "chatsafe", "config.yaml"),
		State:  path.Join(xdg("XDG_STATE_HOME", ".local", "state"), "chatsafe"),
		Data:   path.Join(xdg("XDG_DATA_HOME", ".local", "share"), "chatsafe"),
	}
	if d := p.getenv("XDG_RUNTIME_DIR"); path.IsAbs(d) {
		out.Runtime = path.Clean(d)
	}
	return out
}

func windowsPaths(p platform) paths {
	if p.system {
		base := winJoin(winDir(p.getenv("ProgramData"), `C:\ProgramData`), "chatsafe")
		return paths{Config: winJoin(base, "config.yaml"), State: winJoin(base, "state"), Data: base}
	}
	roaming := winJoin(winDir(p.getenv("AppData"), winJoin(p.home, "AppData", "Roaming")), "chatsafe")
	local := winJoin(winDir(p.getenv("LocalAppData"), winJoin(p.home, "AppData", "Local")), "chatsafe")
	out := paths{Config: winJoin(roaming, "config.yaml"), State: winJoin(local, "state"), Data: local}
	if old := winJoin(roaming, "state"); p.exists != nil && p.exists(old) && !p.exists(out.State) {
		out.State, out.Data = old, roaming
	}
	return out
}

// winDir is dir when it is an absolute Windows path (C:\... or \\server\...),
// else fallback.
func winDir(dir, fallback string) string {
	if len(dir) >= 3 && dir[1] == ':' && (dir[2] == '\\' || dir[2] == '/') || strings.HasPrefix(dir, `\\`) {
		return strings.TrimRight(dir, `\/`)
	}
	return fallback
}

// winJoin joins with backslashes, as filepath.Join does on Windows; it is
// spelled out so the Windows choice is tested on every system.
func winJoin(elem ...string) string {
	for i, e := range elem {
		elem[i] = strings.TrimRight(e, `\/`)
	}
	return strings.Join(elem, `\`)
}

// DefaultConfigPath is the config file chatsafe reads without --config:
// ~/.config/chatsafe/config.yaml ($XDG_CONFIG_HOME) on Linux,
// /etc/chatsafe/config.yaml as root; see defaultPaths for macOS and
// Windows.
func DefaultConfigPath() string { return defaultPaths(thisPlatform()).Config }

// DefaultDataDir is where the default local remote lives (DefaultDataDir/
// remote): ~/.local/share/chatsafe ($XDG_DATA_HOME) on Linux,
// /var/lib/chatsafe/data as root; see defaultPaths for macOS and Windows.
func DefaultDataDir() string { return defaultPaths(thisPlatform()).Data }

func defaultStateDir() string { return defaultPaths(thisPlatform()).State }

func runtimeDir() string { return defaultPaths(thisPlatform()).Runtime }
