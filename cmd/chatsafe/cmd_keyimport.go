package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/remotes"
)

// KeyImportOptions are the flags of `chatsafe key import`.
type KeyImportOptions struct {
	Config string
	Keys   keySourceFlags
}

func newKeyImportCommand(g *globalOptions) *cobra.Command {
	var opts KeyImportOptions
	cmd := &cobra.Command{
		Use:   "import [--config FILE] [--recovery-key-file FILE | --vault URL --vault-ca FILE --account NAME --password-file FILE]",
		Short: "Put the backup key back into this installation's key cache (lost, corrupt, or rotated on another device)",
		Long: `import puts the backup key back into this installation's key cache (the OS
keyring or STATE_DIR/key, as key_store says) when the cache was lost or is
corrupt, or after the key was rotated on another device. The config and the
state directory stay as they are; which device writes the repository does not
change (a device whose state directory was lost as well continues as one that
just joined).

The key comes from the recovery key (--recovery-key-file, or asked on a
terminal), or from the vault: the config's key.vault section with its
password_file (or the password asked on a terminal), or the vault flags.
Before anything is written, the key must open the repository on the config's
first remote: a wrong key (exit 3) leaves the key cache as it was. A key cache
holding another key that still opens nothing here is left alone (exit 2).`,
		Example: `  chatsafe key import --recovery-key-file /media/usb/chatsafe-recovery-key.txt
  chatsafe key import --config ~/chatsafe/config.yaml    # the config's vault, else asks for the recovery key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runKeyImport(cmd.Context(), opts, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	configFlag(cmd, &opts.Config)
	opts.Keys.register(cmd)
	return cmd
}

func runKeyImport(ctx context.Context, opts KeyImportOptions, g *globalOptions, stdout, stderr io.Writer) error {
	cfg, err := g.loadConfig(opts.Config)
	if err != nil {
		return err
	}
	keys := opts.Keys
	if keys.recoveryKeyFile == "" {
		// The config's vault, where flags do not name another.
		keys.vault.withDefaults(cfg)
	}
	if !keys.vault.given() && (keys.vault.account != "" || keys.vault.passwordFile != "" || keys.vault.ca != "") {
		return usageErr(errors.New("the config names no vault: pass --vault URL with --account (or --recovery-key-file)"))
	}
	log := cliLogger(stderr)
	rems, err := instance.OpenRemotes(ctx, cfg, g.retry(log))
	if err != nil {
		return err
	}
	defer instance.CloseRemotes(rems)
	key, err := keys.key(ctx, prompt{g.stdin, stderr}, rems)
	if err != nil {
		return err
	}
	res, err := instance.ImportKey(ctx, cfg, key, rems, log)
	if err != nil {
		return err
	}
	where := instance.KeyCachePath(cfg.StateDir)
	if res.Where == crypt.InKeyring {
		where = "the OS keyring"
	}
	repo := fmt.Sprintf("it opens the repository at %s (newest sequence %d)", remotes.Redact(cfg.Remotes[0].URL), res.Head.Seq)
	switch res.Was {
	case instance.ImportedSame:
		fmt.Fprintf(stdout, "the key cache (%s) already holds this backup key; nothing changed: %s.\n", where, repo)
		return nil
	case instance.ImportedCorrupt:
		fmt.Fprintf(stdout, "the corrupt key cache is replaced: the backup key is in %s again; %s.\n", where, repo)
	case instance.ImportedRotated:
		fmt.Fprintf(stdout, "the key cached here was rotated away and is replaced by the new one, in %s; %s.\n", where, repo)
	default:
		fmt.Fprintf(stdout, "the backup key is in %s again; %s.\n", where, repo)
	}
	fmt.Fprintf(stdout, "A daemon or service that stopped for want of the key can start again (%s).\n", g.installation(cfg.Path).Cmd("service start"))
	return nil
}
