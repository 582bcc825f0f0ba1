package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// InitOptions are the flags of `chatsafe init`.
type InitOptions struct {
	Source         string
	Remotes        []string
	Config         string
	StateDir       string
	RcloneConfig   string
	RecoveryKeyOut string
	Vault          vaultFlags
	// Join adopts an existing repository (a new device) instead of making
	// one; the key comes from RecoveryKeyFile or the vault flags.
	Join            bool
	RecoveryKeyFile string
}

func newInitCommand(g *globalOptions) *cobra.Command {
	var opts InitOptions
	cmd := &cobra.Command{
		Use:   "init --source DIR [--remote REMOTE]... [--config FILE] [--recovery-key-out FILE] [--join]",
		Short: "Set up chatsafe: a config, a new backup key and a repository on each remote",
		Long: `init creates a new backup key, a repository on every remote and a config file,
and prints the 64-digit recovery key once. Keep the recovery key somewhere safe:
without it (or a vault password) nobody can restore your backups, not even you.

On a new device, init --join continues an existing repository instead: give
the key with --recovery-key-file (or the vault flags); the next backup or the
daemon continues the same chain of snapshots.

A REMOTE is anything rclone accepts: a remote from rclone.conf (gdrive:chats,
icloud:Backups, s3:bucket/x), a connection string (":webdav,url='https://…':dir")
or a plain path. Without --remote, backups go to a local directory under
` + configs.DefaultDataDir() + `.

With --config DIR/FILE (other than the default config), the state directory
and the local remote go beside it, in DIR/state and DIR/remote, unless
--state-dir and --remote say otherwise; FILE records where, so "chatsafe daemon
--config DIR/FILE" uses them (a new installation made by the daemon at
DIR/FILE goes there too).

If init fails half-way (a remote unreachable), run the same command again: it
finishes the set-up with the key it already saved.`,
		Example: `  chatsafe init --source ~/chats --remote gdrive:chatsafe
  chatsafe init --source ~/chats --remote /mnt/nas/chatsafe --recovery-key-out ~/recovery-key.txt
  chatsafe init --join --source ~/chats --remote gdrive:chatsafe --recovery-key-file key.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInit(cmd.Context(), opts, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&opts.Source, "source", "", "chat-history directory to back up (required)")
	cmd.Flags().StringArrayVar(&opts.Remotes, "remote", nil, "where backups go (repeatable); default a local directory")
	configFlag(cmd, &opts.Config)
	cmd.Flags().StringVar(&opts.StateDir, "state-dir", "", stateDirUsage)
	cmd.Flags().StringVar(&opts.RcloneConfig, "rclone-config", "", "rclone.conf defining named remotes (default rclone's own)")
	cmd.Flags().StringVar(&opts.RecoveryKeyOut, "recovery-key-out", "", "also write the recovery key to this file (mode 0600; never overwritten)")
	cmd.Flags().BoolVar(&opts.Join, "join", false, "continue an existing repository on this device (with --recovery-key-file or the vault flags)")
	cmd.Flags().StringVar(&opts.RecoveryKeyFile, "recovery-key-file", "", "with --join: file holding the 64-digit recovery key")
	opts.Vault.register(cmd)
	return cmd
}

// initConfig checks init's flags and makes the config they describe.
func initConfig(opts InitOptions, g *globalOptions) (*configs.Config, string, error) {
	if opts.Source == "" {
		return nil, "", usageErr(errors.New("--source DIR is required: the chat-history directory to back up"))
	}
	src, err := filepath.Abs(opts.Source)
	if err != nil {
		return nil, "", usageErr(err)
	}
	if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
		return nil, "", usageErr(fmt.Errorf("source %s is not a directory", src))
	}
	cfgPath := g.configPath(opts.Config)
	if _, err := os.Stat(cfgPath); err == nil {
		return nil, "", usageErr(fmt.Errorf("%s already exists: this device is set up already (run %s; if its backup key is lost or corrupt, %s puts it back; pass --config for another installation)",
			cfgPath, g.installation(cfgPath).Cmd("backup"), cmdline.Installation{Config: cfgPath}.Cmd("key import")))
	}
	// As the daemon makes one: beside a --config file other than the
	// default one, unless --state-dir or --remote say otherwise.
	cfg := configs.DefaultFor(cfgPath, g.defaultConfig)
	cfg.Source = src
	if opts.StateDir != "" {
		dir, err := filepath.Abs(opts.StateDir)
		if err != nil {
			return nil, "", usageErr(err)
		}
		cfg.SetStateDir(dir)
	}
	cfg.RcloneConfig = absOrEmpty(opts.RcloneConfig)
	if len(opts.Remotes) > 0 {
		cfg.Remotes = nil
		for i, spec := range opts.Remotes {
			cfg.Remotes = append(cfg.Remotes, configs.Remote{Name: remoteName(spec, i), URL: absLocalRemote(spec)})
		}
	}
	if opts.Vault.given() {
		cfg.Key.Vault = opts.Vault.config()
		cfg.Key.PasswordFile = absOrEmpty(opts.Vault.passwordFile)
		if _, err := opts.Vault.client(); err != nil {
			return nil, "", err
		}
	}
	return cfg, cfgPath, nil
}

// absLocalRemote makes a remote given as a relative path absolute: the
// config takes relative paths from its own directory, and init may run
// anywhere. rclone remotes, connection strings and paths the config
// expands itself (~, $VAR) stay as given.
// stateDirUsage is --state-dir's help wherever a config is made (init,
// restore --join): a config made at --config DIR/FILE keeps its state
// beside it (initConfig).
var stateDirUsage = "local state directory; the status socket goes with it (default " + configs.Default().StateDir + ", or DIR/state for --config DIR/FILE)"

func absLocalRemote(spec string) string {
	if !isLocalPath(spec) || filepath.IsAbs(spec) || strings.HasPrefix(spec, "~") || strings.Contains(spec, "$") {
		return spec
	}
	return absOrEmpty(spec)
}

func absOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func runInit(ctx context.Context, opts InitOptions, g *globalOptions, stdout, stderr io.Writer) error {
	cfg, cfgPath, err := initConfig(opts, g)
	if err != nil {
		return err
	}
	if opts.Join {
		if opts.RecoveryKeyOut != "" {
			return usageErr(errors.New("--recovery-key-out is for a new repository; with --join the key is the one you have"))
		}
		keys := keySourceFlags{recoveryKeyFile: opts.RecoveryKeyFile, vault: opts.Vault}
		return runJoin(ctx, cfg, cfgPath, keys, g, stdout, stderr)
	}
	if opts.RecoveryKeyFile != "" {
		return usageErr(errors.New("--recovery-key-file is for --join (continuing an existing repository); a new one gets a new key"))
	}
	key, resumed, err := initKey(cfg, opts.RecoveryKeyOut)
	if err != nil {
		return err
	}
	if resumed {
		fmt.Fprintf(stderr, "%s already holds a backup key from an unfinished init: finishing that set-up with it\n", cfg.StateDir)
	}
	writeKeyOut := func() error {
		if opts.RecoveryKeyOut == "" || sameRecoveryKeyFile(opts.RecoveryKeyOut, key) {
			return nil
		}
		// Before any repository exists: if it cannot be saved, none is made.
		if err := writeNewSecretFile(opts.RecoveryKeyOut, []byte(key.RecoveryKey()+"\n")); err != nil {
			return usageErr(fmt.Errorf("writing the recovery key to %s: %w", opts.RecoveryKeyOut, err))
		}
		return nil
	}
	// --retry-for is for this run: the config written keeps its retry_for.
	log := cliLogger(stderr)
	created := instance.CreateOptions{Log: log, KeySaved: writeKeyOut, Retry: g.retry(log)}
	if err := instance.CreateWith(ctx, cfg, cfgPath, key, created); err != nil {
		return initFailed(err, opts, cfg, g.installation(cfgPath))
	}
	printInitDone(stdout, cfg, cfgPath, key, opts.RecoveryKeyOut, opts.Vault.given())
	var vaultErr error
	if opts.Vault.given() {
		if vaultErr = registerWithRemotes(ctx, cfg, g.retry(log), opts.Vault, prompt{g.stdin, stderr}, key); vaultErr == nil {
			fmt.Fprintf(stdout, "\nThe backup key is also kept by the vault at %s for account %q, behind your password.\n", opts.Vault.urls, opts.Vault.account)
		} else {
			fmt.Fprintf(stdout, "\nThe vault did not take the key (see the error); run %s to try again.\n", g.installation(cfgPath).Cmd("key set-password"))
		}
	}
	g.printNext(stdout, cfgPath)
	return vaultErr
}

// initKey is the key of a new installation: the one an unfinished init
// already saved in the state directory, or a new one. Before anything is
// written it refuses a --recovery-key-out file that exists (unless it holds
// exactly the resumed key).
func initKey(cfg *configs.Config, keyOut string) (crypt.Key, bool, error) {
	key, cached, err := instance.CachedKey(cfg)
	if err != nil {
		return key, false, err
	}
	if cached && !instance.PendingInit(cfg.StateDir) {
		return key, false, usageErr(fmt.Errorf("%s already holds the backup key of a set-up installation: choose another --state-dir (or, to continue this device's backups, use its config)", cfg.StateDir))
	}
	resumed := cached
	if !resumed {
		if key, err = crypt.NewKey(); err != nil {
			return key, false, err
		}
	}
	if keyOut != "" {
		if _, err := os.Lstat(keyOut); err == nil && !(resumed && sameRecoveryKeyFile(keyOut, key)) {
			return key, false, usageErr(fmt.Errorf("%s already exists: init never overwrites a recovery key file (it may hold the key of your backups); choose another --recovery-key-out", keyOut))
		}
	}
	return key, resumed, nil
}

func sameRecoveryKeyFile(path string, key crypt.Key) bool {
	b, err := crypt.ReadSecretFile(path)
	if err != nil {
		return false
	}
	k, err := crypt.ParseRecoveryKey(string(b))
	return err == nil && k == key
}

// writeNewSecretFile writes a 0600 file that must not exist yet.
func writeNewSecretFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// initFailed explains a failed init: an existing repository needs --join;
// anything else can be finished by running the same command again.
func initFailed(err error, opts InitOptions, cfg *configs.Config, in cmdline.Installation) error {
	if errors.Is(err, store.ErrExists) {
		join := in.Line(fmt.Sprintf("init --join --source %s%s --recovery-key-file FILE", cmdline.Quote(cfg.Source), remoteFlags(opts.Remotes)))
		return usageErr(fmt.Errorf("%w; to continue its backups on this device run\n  %s\n(or the vault flags instead of --recovery-key-file), or choose an empty remote for a new repository", err, join))
	}
	if _, ok, _ := instance.CachedKey(cfg); ok {
		return fmt.Errorf("%w\nThe backup key is saved in %s; once the problem is fixed, run the same init command again to finish the set-up", err, cfg.StateDir)
	}
	return err
}

func remoteFlags(rs []string) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, " --remote %q", r)
	}
	return b.String()
}

// registerWithRemotes keeps key in the vault and the vault handle on every
// remote of cfg, opened with retry.
func registerWithRemotes(ctx context.Context, cfg *configs.Config, retry remotes.RetryOptions, v vaultFlags, p prompt, key crypt.Key) error {
	rems, err := instance.OpenRemotes(ctx, cfg, retry)
	if err != nil {
		return err
	}
	defer instance.CloseRemotes(rems)
	return v.registerKey(ctx, p, key, rems)
}

func printInitDone(out io.Writer, cfg *configs.Config, cfgPath string, key crypt.Key, keyFile string, vault bool) {
	fmt.Fprintf(out, "chatsafe is set up.\n  config:  %s\n  source:  %s\n", cfgPath, cfg.Source)
	for _, r := range cfg.Remotes {
		fmt.Fprintf(out, "  remote:  %s (%s)\n", r.Name, remotes.Redact(r.URL))
	}
	fmt.Fprintf(out, "\nYour recovery key (shown only this once):\n\n    %s\n\n", key.RecoveryKey())
	fmt.Fprintln(out, "Write it down or store it in a password manager. It is the only way to restore")
	if vault {
		// The vault is set up below: the key is the way back without it.
		fmt.Fprintln(out, "your backups on a new device without the vault (if it is lost, or erases the key after wrong passwords).")
	} else {
		fmt.Fprintln(out, "your backups on a new device unless you set a vault password (chatsafe key set-password).")
	}
	if keyFile != "" {
		fmt.Fprintf(out, "It was also written to %s.\n", keyFile)
	}
}
