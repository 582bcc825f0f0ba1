package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"golang.org/x/term"

	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/store"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/logs"
	"github.com/chatsafe/chatsafe/remotes"
)

// configFlag adds the usual --config flag to a command.
func configFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVar(dst, "config", "", "config file (default "+configs.DefaultConfigPath()+")")
}

// configPath is --config, or the default config when it is not given.
func (g *globalOptions) configPath(flag string) string {
	if flag != "" {
		return flag
	}
	return g.defaultConfig
}

// installation is the installation of the config at cfgPath ("": the
// default one), for the commands messages tell to run: with --config
// when it is not the default config (without it they would read the
// default one: another installation's, or none).
func (g *globalOptions) installation(cfgPath string) cmdline.Installation {
	return cmdline.Installation{Config: cfgPath, Default: g.defaultConfig}
}

// printNext ends init and join: the commands to run next.
func (g *globalOptions) printNext(out io.Writer, cfgPath string) {
	in := g.installation(cfgPath)
	fmt.Fprintf(out, "\nNext: %s for a backup now, or %s to back up continuously.\n", in.Cmd("backup"), in.Cmd("daemon"))
}

// loadConfig loads the config named by --config, or the default one, as
// the file says: the global flags are the run's, passed where they apply
// (retry), never written into the config, so a command that writes a
// loaded config back writes the file's own settings.
func (g *globalOptions) loadConfig(path string) (*configs.Config, error) {
	if path == "" || path == g.defaultConfig {
		path = g.defaultConfig
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, usageErr(g.noConfig())
		}
	}
	return configs.Load(path)
}

// retry is how this run retries calls to a remote, log hearing the
// retries: with --retry-for, that time budget over the config's retry_for
// (instance.OpenRemote); without it, the config's. A one-shot command
// retries a remote to the limit once (PerRun); the daemon (daemonRetry)
// runs for days, and every call of it may retry.
func (g *globalOptions) retry(log *zap.Logger) remotes.RetryOptions {
	return remotes.RetryOptions{Budget: g.RetryFor, Log: log, PerRun: true}
}

// daemonRetry is retry for the daemon: each call its own budget.
func (g *globalOptions) daemonRetry(log *zap.Logger) remotes.RetryOptions {
	r := g.retry(log)
	r.PerRun = false
	return r
}

// noConfig is the error of a command run before `chatsafe init`.
func (g *globalOptions) noConfig() error {
	return fmt.Errorf("no config at %s: run `chatsafe init --source DIR` first, or pass --config FILE", g.defaultConfig)
}

// openInstance loads the config and opens the installation it describes.
// readOnly opens the repository without its lock, beside a daemon.
func (g *globalOptions) openInstance(ctx context.Context, configPath string, readOnly bool, stderr io.Writer) (*instance.Instance, error) {
	cfg, err := g.loadConfig(configPath)
	if err != nil {
		return nil, err
	}
	log := cliLogger(stderr)
	return instance.Open(ctx, cfg, instance.Options{ReadOnly: readOnly, Log: log, Retry: g.retry(log)})
}

// cliLogger logs warnings and errors to stderr for one-shot commands. It
// is the logs package's logger (its schema, its redaction of secret-named
// fields), quieter than the daemon's: info is for the command's own output.
func cliLogger(stderr io.Writer) *zap.Logger {
	l, err := logs.New(logs.Options{Level: "warn", Format: "text", Out: stderr})
	if err != nil {
		// Fixed, valid options: New cannot refuse them.
		panic(err)
	}
	return l.Logger
}

// isTerminal reports whether w is a terminal (progress bars and prompts
// only go to one).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && f != nil && term.IsTerminal(int(f.Fd()))
}

// isLocalPath reports whether a remote spec is a plain path (rclone's
// local backend) rather than "name:path" or a connection string.
func isLocalPath(spec string) bool {
	return filepath.IsAbs(spec) || strings.HasPrefix(spec, ".") || !strings.Contains(spec, ":")
}

// remoteName derives a short name for a remote spec given to init.
func remoteName(spec string, i int) string {
	name := ""
	switch {
	case strings.HasPrefix(spec, ":"):
		name = strings.SplitN(strings.TrimPrefix(spec, ":"), ",", 2)[0]
		name = strings.SplitN(name, ":", 2)[0]
	case isLocalPath(spec):
		name = "local"
	default:
		name = strings.SplitN(spec, ":", 2)[0]
	}
	if name == "" {
		name = "remote"
	}
	if i > 0 {
		name = fmt.Sprintf("%s-%d", name, i+1)
	}
	return name
}

// plural counts a noun in English: "1 file", "1,234 files".
func plural[N int | int64 | uint64](n N, noun string) string {
	s := humanize.Comma(int64(n)) + " " + noun
	if n != 1 {
		s += "s"
	}
	return s
}

// humanBytes formats a byte count like "20.1 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// warnTakenOver says once, on stderr, that another device took over
// this repository, in backup's words, for a command that goes on without
// writing (a dry run, nothing to repair) or that makes this device the
// writer again (fork resolve); one that would write otherwise fails with
// the take-over itself (exit 7). It reports whether it warned.
func warnTakenOver(st *store.Store, stderr io.Writer) bool {
	to := st.TakenOver()
	if to != nil {
		fmt.Fprintln(stderr, "WARNING:", to)
	}
	return to != nil
}

// partialResult turns a successful read of a damaged repository into a
// partial result: the warning names the damage, and the exit code is 9.
// remote is --remote when the command ran without a config ("" with
// one): the advice then differs (damageText).
func partialResult(st *store.Store, remote string, stderr io.Writer, err error) error {
	de := st.Damage()
	if err != nil || de == nil {
		return err
	}
	fmt.Fprintln(stderr, "WARNING:", damageText(de, remote))
	pe := &store.PartialError{Damage: de}
	if remote != "" {
		return &partialNoConfig{p: pe, remote: remote}
	}
	return pe
}

// deviceLabel names a device for people, as `chatsafe snapshots` and
// `chatsafe status` show them.
func deviceLabel(hostname, deviceHex string) string {
	return statusapi.DeviceLabel(hostname, deviceHex)
}
