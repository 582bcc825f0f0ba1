// Package service owns installing chatsafe as a background service: the
// systemd units (system and user), the launchd plist and the Windows service
// settings it renders, and install/uninstall/start/stop/status through
// github.com/kardianos/service. The service always runs
// `chatsafe daemon --config FILE`; what the daemon does is package daemon's.
//
// Rendering is done here, in full, so what is installed is exactly what the
// golden tests pin: the library receives a finished unit file (a template
// with no actions) and writes it verbatim.
package service

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/chatsafe/chatsafe/configs"
)

// Name is the service name on every platform: chatsafe.service for systemd,
// the launchd label and plist name, the Windows service name.
const Name = "chatsafe"

// CredentialName is the systemd credential that carries the vault password
// file; the daemon reads $CREDENTIALS_DIRECTORY/vault-password.
const CredentialName = "vault-password"

// System-service locations, the ones systemd's StateDirectory=chatsafe and
// RuntimeDirectory=chatsafe create; configs uses the same ones for root.
const (
	systemStateDir   = "/var/lib/chatsafe"
	systemRuntimeDir = "/run/chatsafe"
)

// ErrBadUnit is wrapped when a path or argument cannot be written into a
// unit file safely (a newline, or a template delimiter).
var ErrBadUnit = errors.New("cannot be written into a service file")

// Unit is what the installed service runs and may touch. It is the input of
// every renderer.
type Unit struct {
	// Executable is the absolute path of the chatsafe binary.
	Executable string
	// ConfigPath is the absolute path of the config the daemon runs with.
	ConfigPath string
	// User selects a per-user service (systemd --user, a launchd agent)
	// instead of a system one.
	User bool
	// PasswordFile is the config's key.password_file; when set the systemd
	// unit hands it to the daemon as the vault-password credential.
	PasswordFile string
	// WritablePaths are extra directories the daemon writes to outside its
	// state and runtime directories (a local remote, a state_dir elsewhere,
	// rclone's config that it rewrites when tokens refresh). Only the system
	// unit needs them: it mounts everything else read-only.
	WritablePaths []string
	// NoRestartExitCodes are daemon exit codes that restarting cannot fix
	// (bad config, wrong key or password, erased key). Restarting on a wrong
	// vault password would also spend the vault's limited attempts.
	NoRestartExitCodes []int
	// LogDir is where launchd writes the daemon's output (macOS only;
	// systemd sends it to the journal).
	LogDir string
}

// FromConfig derives a Unit from a loaded config: the password credential
// and the directories outside the state directory that the daemon writes.
// exe and cfg.Path are made absolute.
func FromConfig(exe string, cfg *configs.Config, user bool) (Unit, error) {
	if cfg == nil || cfg.Path == "" {
		return Unit{}, errors.New("service: the config must be loaded from a file (pass --config FILE)")
	}
	absExe, err := filepath.Abs(exe)
	if err != nil {
		return Unit{}, fmt.Errorf("locating the chatsafe binary: %w", err)
	}
	absCfg, err := filepath.Abs(cfg.Path)
	if err != nil {
		return Unit{}, fmt.Errorf("locating the config file: %w", err)
	}
	u := Unit{
		Executable:   absExe,
		ConfigPath:   absCfg,
		User:         user,
		PasswordFile: cfg.Key.PasswordFile,
	}
	if !user {
		var want []string
		want = append(want, cfg.StateDir)
		if cfg.StatusSocket != "" {
			want = append(want, filepath.Dir(cfg.StatusSocket))
		}
		for _, r := range cfg.Remotes {
			// Only plain absolute paths are local directories; "name:path"
			// and connection strings go over the network.
			if filepath.IsAbs(r.URL) && !strings.Contains(r.URL, ":") {
				want = append(want, r.URL)
			}
		}
		if cfg.RcloneConfig != "" {
			want = append(want, filepath.Dir(cfg.RcloneConfig))
		}
		for _, p := range want {
			if p == "" || !filepath.IsAbs(p) || within(p, systemStateDir) || within(p, systemRuntimeDir) {
				continue
			}
			p = filepath.Clean(p)
			if !slices.Contains(u.WritablePaths, p) {
				u.WritablePaths = append(u.WritablePaths, p)
			}
		}
		slices.Sort(u.WritablePaths)
	}
	return u, nil
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, filepath.Clean(p))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// noRestart is NoRestartExitCodes, space separated, as systemd's
// RestartPreventExitStatus= and NoRestartEnv take them.
func (u Unit) noRestart() string {
	var codes []string
	for _, c := range u.NoRestartExitCodes {
		codes = append(codes, strconv.Itoa(c))
	}
	return strings.Join(codes, " ")
}

// args is the daemon's command line after the executable.
func (u Unit) args() []string { return []string{"daemon", "--config", u.ConfigPath} }

// check refuses what a unit file cannot carry. Every renderer hands its text
// to kardianos/service as a template, so "{{" must not appear either.
func (u Unit) check() error {
	if u.Executable == "" || !filepath.IsAbs(u.Executable) {
		return fmt.Errorf("service: the chatsafe binary path %q must be absolute", u.Executable)
	}
	if u.ConfigPath == "" || !filepath.IsAbs(u.ConfigPath) {
		return fmt.Errorf("service: the config path %q must be absolute (pass --config FILE)", u.ConfigPath)
	}
	fields := []struct{ what, v string }{
		{"binary path", u.Executable},
		{"config path", u.ConfigPath},
		{"password file path", u.PasswordFile},
		{"log directory", u.LogDir},
	}
	for _, p := range u.WritablePaths {
		fields = append(fields, struct{ what, v string }{"writable path", p})
	}
	for _, f := range fields {
		if strings.ContainsAny(f.v, "\n\r\x00") || strings.Contains(f.v, "{{") || strings.Contains(f.v, "}}") {
			return fmt.Errorf("the %s %q %w: rename or move it", f.what, f.v, ErrBadUnit)
		}
	}
	if u.PasswordFile != "" && !filepath.IsAbs(u.PasswordFile) {
		return fmt.Errorf("service: the password file path %q must be absolute", u.PasswordFile)
	}
	return nil
}

// inTempDir reports whether the binary lives in a temporary directory (go run,
// a test binary): a service pointing there breaks at the next clean-up.
func inTempDir(exe string) bool {
	tmp, err := filepath.EvalSymlinks(os.TempDir())
	if err != nil {
		tmp = os.TempDir()
	}
	return within(exe, tmp) || within(exe, os.TempDir())
}
