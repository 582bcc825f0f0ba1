package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// expand applies ~ and $VAR expansion to the path and URL values that were
// set in the file (defaults are already final), and makes paths absolute
// relative to the config file's directory. "$$" stands for a literal "$".
// Exclude globs are not expanded: they are relative to the source and "$"
// is a legal file-name character there.
func (c *Config) expand() error {
	base := "."
	if c.Path != "" && c.Path != "-" {
		base = filepath.Dir(c.Path)
	}
	if abs, err := filepath.Abs(base); err == nil {
		base = abs
	}
	paths := []struct {
		key string
		p   *string
	}{
		{"source", &c.Source},
		{"state_dir", &c.StateDir},
		{"rclone_config", &c.RcloneConfig},
		{"key.password_file", &c.Key.PasswordFile},
		{"key.vault.ca_file", &c.Key.Vault.CAFile},
		{"status_socket", &c.StatusSocket},
	}
	for _, f := range paths {
		if _, set := c.lines[f.key]; !set || *f.p == "" {
			continue
		}
		s, err := c.expandString(f.key, *f.p, true)
		if err != nil {
			return err
		}
		if !filepath.IsAbs(s) {
			s = filepath.Join(base, s)
		}
		*f.p = filepath.Clean(s)
	}
	for i := range c.Remotes {
		r := &c.Remotes[i]
		key := fmt.Sprintf("remotes[%d].url", i)
		if _, set := c.lines[key]; !set || r.URL == "" {
			continue
		}
		s, err := c.expandString(key, r.URL, true)
		if err != nil {
			return err
		}
		if isLocalPath(s) && !filepath.IsAbs(s) {
			s = filepath.Join(base, s)
		}
		r.URL = s
	}
	for _, f := range []struct {
		key string
		p   *string
	}{{"key.vault.url", &c.Key.Vault.URL}, {"key.vault.account", &c.Key.Vault.Account}} {
		if _, set := c.lines[f.key]; !set {
			continue
		}
		s, err := c.expandString(f.key, *f.p, false)
		if err != nil {
			return err
		}
		*f.p = s
	}
	return nil
}

// expandString expands $VAR, ${VAR} and, if tilde, a leading ~ or ~/.
func (c *Config) expandString(key, s string, tilde bool) (string, error) {
	var missing string
	out := os.Expand(s, func(name string) string {
		if name == "$" {
			return "$"
		}
		v, ok := os.LookupEnv(name)
		if !ok && missing == "" {
			missing = name
		}
		return v
	})
	if missing != "" {
		return "", c.errAt(key, "%s: environment variable $%s is not set (set it, or write $$ for a literal $)", key, missing)
	}
	if tilde && strings.HasPrefix(s, "~") {
		switch {
		case out == "~":
			out = homeDir()
		case strings.HasPrefix(out, "~/"):
			out = filepath.Join(homeDir(), out[2:])
		default:
			return "", c.errAt(key, "%s: %q: only ~ and ~/ are expanded, not ~user; write the full path", key, s)
		}
	}
	return out, nil
}

// escapeDollar is the inverse of expansion for values Write puts in a file.
func escapeDollar(s string) string { return strings.ReplaceAll(s, "$", "$$") }

func (c *Config) errAt(key, format string, args ...any) error {
	return &Error{File: c.Path, Line: c.lines[key], Key: key, Msg: fmt.Sprintf(format, args...)}
}
