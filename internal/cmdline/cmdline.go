// Package cmdline writes the chatsafe command lines that messages tell
// the user to run, for the installation they are about: with --config
// when its config is not the one chatsafe reads without it, since a hint
// copied without it would run against another installation (or none).
package cmdline

import (
	"path/filepath"
	"strings"

	"github.com/chatsafe/chatsafe/configs"
)

// Installation names the config an installation's commands need.
type Installation struct {
	// Config is the installation's config file ("": the default one,
	// or the embedded defaults of a daemon started without a config).
	Config string
	// Default is the config file chatsafe reads without --config, for
	// the user who runs the commands.
	Default string
}

// For is the installation of config, for this process's user.
func For(config string) Installation {
	return Installation{Config: config, Default: configs.DefaultConfigPath()}
}

// Flag is " --config PATH" (absolute, shell-quoted when it needs it)
// when Config is not the Default file, else "".
func (in Installation) Flag() string {
	if in.Config == "" {
		return ""
	}
	abs, err := filepath.Abs(in.Config)
	if err != nil {
		abs = filepath.Clean(in.Config)
	}
	if def, err := filepath.Abs(in.Default); err == nil && in.Default != "" && def == abs {
		return ""
	}
	return " --config " + Quote(abs)
}

// Line is the command line "chatsafe ARGS" for this installation.
func (in Installation) Line(args string) string {
	return "chatsafe " + args + in.Flag()
}

// Cmd is Line in backquotes, as messages quote the commands to run.
func (in Installation) Cmd(args string) string {
	return "`" + in.Line(args) + "`"
}

// Quote quotes s for a POSIX shell when it needs it.
func Quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
