package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"

	kservice "github.com/kardianos/service"
)

// ErrNoServiceManager means no supported service manager runs here: a
// container, or a Linux without systemd. The daemon can still be run in the
// foreground under another supervisor.
var ErrNoServiceManager = errors.New("no service manager found (is this a container?)")

// ErrNotInstalled is returned by Start, Stop and Uninstall when the service
// is not installed.
var ErrNotInstalled = errors.New("the chatsafe service is not installed")

// ErrAlreadyInstalled is returned by Install when a service file exists.
var ErrAlreadyInstalled = errors.New("the chatsafe service is already installed")

// ErrNeedsRoot is returned when a system service is managed without root.
var ErrNeedsRoot = errors.New("managing the system service needs root")

// Status is the state of the installed service.
type Status int

const (
	StatusNotInstalled Status = iota
	StatusStopped
	StatusRunning
	// StatusFailed: systemd stopped restarting it (see the journal).
	StatusFailed
)

func (s Status) String() string {
	switch s {
	case StatusStopped:
		return "stopped"
	case StatusRunning:
		return "running"
	case StatusFailed:
		return "failed"
	default:
		return "not installed"
	}
}

// host is what Manager needs to know about the machine; tests build one.
type host struct {
	goos          string
	system        kservice.System // nil: the library found nothing
	systemdBooted bool            // /run/systemd/system exists (sd_booted)
	euid          int
	home          string
}

func thisHost() host {
	h := host{goos: runtime.GOOS, system: kservice.ChosenSystem(), euid: os.Geteuid()}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		h.systemdBooted = true
	}
	h.home, _ = os.UserHomeDir()
	return h
}

// supported reports whether this host has a service manager we install into.
// On Linux that is systemd only: kardianos/service falls back to System V
// init scripts everywhere, which in a container means a script nobody runs.
func (h host) supported() bool {
	if h.system == nil {
		return false
	}
	switch h.goos {
	case "linux":
		return h.system.String() == "linux-systemd" && h.systemdBooted
	case "darwin", "windows":
		return true
	}
	return false
}

// Manager installs and controls the chatsafe service on this machine: the
// system service, or the current user's.
type Manager struct {
	user bool
	host host
	svc  kservice.Service // for everything but Install
}

// New returns a Manager for the system service, or the user's with user
// set. configPath only completes the hint in the error wrapping
// ErrNoServiceManager, returned when there is no service manager here.
func New(user bool, configPath string) (*Manager, error) {
	return newManager(user, configPath, thisHost())
}

func newManager(user bool, configPath string, h host) (*Manager, error) {
	if !h.supported() {
		if configPath == "" {
			configPath = "FILE"
		}
		return nil, fmt.Errorf("%w; run `chatsafe daemon --config %s` under your own supervisor, or see the unit with `chatsafe service install --print`", ErrNoServiceManager, configPath)
	}
	if user && h.goos == "windows" {
		return nil, errors.New("--user is not supported on Windows: install the service from an Administrator prompt without --user")
	}
	m := &Manager{user: user, host: h}
	c, err := m.libraryConfig(nil)
	if err != nil {
		return nil, err
	}
	if m.svc, err = h.system.New(program{}, c); err != nil {
		return nil, fmt.Errorf("setting up the %s service: %w", h.system, err)
	}
	return m, nil
}

// libraryConfig is the kardianos/service configuration. With a unit it
// carries the rendered service file (systemd, launchd) or the Windows
// service settings, which is what Install needs.
func (m *Manager) libraryConfig(u *Unit) (*kservice.Config, error) {
	c := &kservice.Config{
		Name:        Name,
		DisplayName: "chatsafe",
		Description: "End-to-end encrypted backups of chat history",
		Option:      kservice.KeyValue{"UserService": m.user},
	}
	if u == nil {
		return c, nil
	}
	c.Executable, c.Arguments = u.Executable, u.args()
	switch m.host.goos {
	case "linux":
		script, err := RenderSystemd(*u)
		if err != nil {
			return nil, err
		}
		c.Option["SystemdScript"] = script
	case "darwin":
		u.LogDir = launchdLogDir(*u, m.host.home)
		script, err := RenderLaunchd(*u)
		if err != nil {
			return nil, err
		}
		c.Option["LaunchdConfig"] = script
	case "windows":
		for k, v := range windowsOptions() {
			c.Option[k] = v
		}
		// The service's environment (in the registry) tells the daemon
		// which exit codes must end it for good (see Run).
		if codes := u.noRestart(); codes != "" {
			c.EnvVars = map[string]string{NoRestartEnv: codes}
		}
	}
	return c, nil
}

// windowsOptions make the Windows service start at boot (delayed, so the
// network is up) and restart 30 s after a failure. A failure is a daemon
// that ends without reporting to the service control manager; one that
// reports its stop (a clean stop, or a final exit code: Run) is not
// restarted, as "restart on stops with errors" stays off.
func windowsOptions() kservice.KeyValue {
	return kservice.KeyValue{
		"StartType":              "automatic",
		"DelayedAutoStart":       true,
		"OnFailure":              "restart",
		"OnFailureDelayDuration": "30s",
		"OnFailureResetPeriod":   86400,
	}
}

// program satisfies kardianos/service's Interface; it is never run here
// (the daemon command runs the service).
type program struct{}

func (program) Start(kservice.Service) error { return nil }
func (program) Stop(kservice.Service) error  { return nil }

// Platform names the service manager in use ("linux-systemd", ...).
func (m *Manager) Platform() string { return m.host.system.String() }

// Path is the installed service file, or "" where there is none (Windows
// keeps services in the registry).
func (m *Manager) Path() string { return unitPath(m.host.goos, m.user, m.host.home) }

// unitPath is where the service file of a system or user service goes on
// goos, for a user whose home is home; "" on Windows. It is the one place
// that knows it: Install, Render and the docs agree through it. It must
// be kardianos/service's own choice (which the library does not export):
// TestInstallUserUnitThroughLibrary checks the two meet.
func unitPath(goos string, user bool, home string) string {
	switch goos {
	case "windows":
		return ""
	case "darwin":
		if user {
			return filepath.Join(home, "Library", "LaunchAgents", Name+".plist")
		}
		return "/Library/LaunchDaemons/" + Name + ".plist"
	}
	if user {
		return filepath.Join(home, ".config", "systemd", "user", Name+".service")
	}
	return "/etc/systemd/system/" + Name + ".service"
}

// launchdLogDir is where launchd writes the daemon's output when the unit
// names no directory: ~/Library/Logs for an agent (RenderLaunchd's default
// of /Library/Logs is for the system daemon).
func launchdLogDir(u Unit, home string) string {
	if u.User && u.LogDir == "" {
		return filepath.Join(home, "Library", "Logs")
	}
	return u.LogDir
}

func (m *Manager) flag() string {
	if m.user {
		return " --user"
	}
	return ""
}

// CheckPrivileges refuses changes to the system service without root,
// before the library fails halfway with a bare "permission denied". Reading
// the status needs no privileges.
func (m *Manager) CheckPrivileges() error {
	if m.user || m.host.goos == "windows" || m.host.euid == 0 {
		return nil
	}
	return fmt.Errorf("%w: run it with sudo, or add --user for a service of your own", ErrNeedsRoot)
}

func (m *Manager) installed() bool {
	p := m.Path()
	if p == "" {
		_, err := m.svc.Status()
		return !errors.Is(err, kservice.ErrNotInstalled)
	}
	_, err := os.Stat(p)
	return err == nil
}

// Installed reports what Install did and what the user may still want to do.
type Installed struct {
	// Path is the service file written ("" on Windows).
	Path string
	// Notes are hints for the user, one sentence each.
	Notes []string
}

// Install writes the service file, enables the service so it starts at
// boot (or at login for a user service) and starts it now: systemctl enable
// --now. A user service on Linux gets a note about lingering.
func (m *Manager) Install(ctx context.Context, u Unit) (Installed, error) {
	if u.User != m.user {
		return Installed{}, errors.New("service: the unit's scope (User) differs from the Manager's")
	}
	if err := m.CheckPrivileges(); err != nil {
		return Installed{}, err
	}
	c, err := m.libraryConfig(&u)
	if err != nil {
		return Installed{}, err
	}
	if inTempDir(u.Executable) {
		return Installed{}, fmt.Errorf("the chatsafe binary %s is in a temporary directory; copy it somewhere permanent (e.g. /usr/local/bin) and run install from there", u.Executable)
	}
	if m.installed() {
		return Installed{}, fmt.Errorf("%w (%s): run `chatsafe service uninstall%s` first to replace it", ErrAlreadyInstalled, m.Path(), m.flag())
	}
	if err := ctx.Err(); err != nil {
		return Installed{}, err
	}
	svc, err := m.host.system.New(program{}, c)
	if err != nil {
		return Installed{}, fmt.Errorf("setting up the %s service: %w", m.host.system, err)
	}
	res := Installed{Path: m.Path()}
	if err := svc.Install(); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return Installed{}, fmt.Errorf("writing %s: %w (%w)", res.Path, err, ErrNeedsRoot)
		}
		if res.Path != "" {
			if _, serr := os.Stat(res.Path); serr == nil {
				return res, fmt.Errorf("wrote %s but could not enable it: %w; once that is fixed, delete %s and run `chatsafe service install%s` again", res.Path, err, res.Path, m.flag())
			}
		}
		return Installed{}, fmt.Errorf("installing the service: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if err := svc.Start(); err != nil {
		return res, fmt.Errorf("installed %s but could not start it: %w; see `chatsafe service status%s` and the logs", res.Path, err, m.flag())
	}
	if m.host.goos == "linux" && m.user {
		res.Notes = append(res.Notes, lingerNote())
	}
	return res, nil
}

// lingerNote explains enable-linger unless it is on already: without it a
// user service stops when the user's last session ends.
func lingerNote() string {
	name := "$USER"
	if u, err := user.Current(); err == nil {
		name = u.Username
		if _, err := os.Stat(filepath.Join("/var/lib/systemd/linger", name)); err == nil {
			return "lingering is enabled for " + name + ": the service runs from boot, without a login session"
		}
	}
	return "the service runs only while you are logged in; to run it from boot without a login session: loginctl enable-linger " + name
}

// Uninstall stops the service, disables it and removes its file.
func (m *Manager) Uninstall(ctx context.Context) error {
	if err := m.CheckPrivileges(); err != nil {
		return err
	}
	if !m.installed() {
		return fmt.Errorf("%w%s", ErrNotInstalled, m.scopeNote())
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if st, _ := m.svc.Status(); st == kservice.StatusRunning {
		if err := m.svc.Stop(); err != nil {
			return fmt.Errorf("stopping the service before removing it: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.svc.Uninstall(); err != nil {
		return fmt.Errorf("uninstalling the service: %w", err)
	}
	return nil
}

// scopeNote hints at the other scope, the usual reason for "not installed".
func (m *Manager) scopeNote() string {
	if m.host.goos == "windows" {
		return ""
	}
	if m.user {
		return " as a user service (without --user for the system service)"
	}
	return " as a system service (add --user for your own service)"
}

// Start starts the installed service.
func (m *Manager) Start(ctx context.Context) error {
	return m.control(ctx, "starting", m.svc.Start)
}

// Stop stops the service; it stays installed and starts again at boot.
func (m *Manager) Stop(ctx context.Context) error {
	return m.control(ctx, "stopping", m.svc.Stop)
}

func (m *Manager) control(ctx context.Context, doing string, f func() error) error {
	if err := m.CheckPrivileges(); err != nil {
		return err
	}
	if !m.installed() {
		return fmt.Errorf("%w%s: run `chatsafe service install%s` first", ErrNotInstalled, m.scopeNote(), m.flag())
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := f(); err != nil {
		return fmt.Errorf("%s the service: %w", doing, err)
	}
	return nil
}

// Status reports whether the service is installed and running.
func (m *Manager) Status(ctx context.Context) (Status, error) {
	if err := ctx.Err(); err != nil {
		return StatusNotInstalled, err
	}
	if m.Path() != "" && !m.installed() {
		return StatusNotInstalled, nil
	}
	st, err := m.svc.Status()
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
		return StatusNotInstalled, nil
	// kardianos/service has no value for systemd's "failed" state, only
	// this error text.
	case err != nil && strings.Contains(err.Error(), "failed state"):
		return StatusFailed, nil
	case err != nil:
		return StatusNotInstalled, fmt.Errorf("asking %s for the service's state: %w", m.Platform(), err)
	case st == kservice.StatusRunning:
		return StatusRunning, nil
	case st == kservice.StatusStopped:
		return StatusStopped, nil
	}
	return StatusNotInstalled, nil
}
