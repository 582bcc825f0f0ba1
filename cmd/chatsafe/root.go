package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/internal/buildinfo"
)

// globalOptions are the flags every command has, and what the process gives
// every command (stdin, the default config path), so tests can replace them.
type globalOptions struct {
	// RetryFor is --retry-for: when set, this run's time budget over the
	// config's retry_for. It reaches the remotes as an option (retry),
	// never through a config.
	RetryFor time.Duration
	// defaultConfig is the config used when --config is not given.
	defaultConfig string
	// stdin is where recovery keys and passwords are asked for.
	stdin *os.File
	// memory is the process's soft memory limit (nil: the user's, or a
	// test's); the daemon takes it over.
	memory *memLimiter
	// ownsProcess: this is the binary's own process, whose GOMAXPROCS
	// the daemon may cap (procs.go); tests running commands in process
	// leave it false.
	ownsProcess bool
}

// newRootCommand builds the whole command tree for this process.
func newRootCommand(mem *memLimiter) *cobra.Command {
	return buildRootCommand(&globalOptions{defaultConfig: configs.DefaultConfigPath(), stdin: os.Stdin, memory: mem, ownsProcess: true})
}

// buildRootCommand builds the command tree around g.
func buildRootCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "chatsafe",
		Short: "End-to-end encrypted backups of chat history",
		Long: `chatsafe watches a chat-history directory (a messaging app's SQLite database
plus media), writes small incremental encrypted deltas and pushes them to any
rclone remote. Only the holder of the backup key (the 64-digit recovery key, or
a password kept by a Backup Key Vault) can read them.`,
		Example: `  chatsafe init --source ~/chats --remote gdrive:chatsafe
  chatsafe daemon
  chatsafe status`,
		Version:       buildinfo.Get(version).String(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if g.RetryFor < 0 {
				return usageErr(fmt.Errorf("--retry-for %s: must not be negative (leave it out for the config's retry_for)", g.RetryFor))
			}
			return nil
		},
	}
	cmd.PersistentFlags().DurationVar(&g.RetryFor, "retry-for", 0,
		"give up on an unreachable remote after retrying for this long (exit 5); overrides the config's retry_for (default: the config's, else about 45s of retries)")
	cmd.AddCommand(
		newInitCommand(g),
		newDaemonCommand(g),
		newBackupCommand(g),
		newStatusCommand(g),
		newSnapshotsCommand(g),
		newRestoreCommand(g),
		newLsCommand(g),
		newFindCommand(g),
		newDumpCommand(g),
		newDiffCommand(g),
		newMountCommand(g),
		newCheckCommand(g),
		newPruneCommand(g),
		newTakeoverCommand(g),
		newRepairCommand(g),
		newForkCommand(g),
		newKeyCommand(g),
		newServiceCommand(g),
		newVaultCommand(g),
		newVersionCommand(g),
		newUICommand(g),
		newManCommand(g),
	)
	cmd.SetVersionTemplate("{{.Version}}\n")
	cmd.InitDefaultCompletionCmd()
	requireActions(cmd)
	return cmd
}

// requireActions makes every command below root that only groups others
// refuse an unknown action, or none, as bad usage: cobra would print the
// group's help and exit 0, which a script takes for success.
func requireActions(root *cobra.Command) {
	for _, c := range root.Commands() {
		requireActions(c)
		if !c.HasSubCommands() || c.Runnable() {
			continue
		}
		var names []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		usage := fmt.Sprintf("name an action: %s %s", c.CommandPath(), strings.Join(names, "|"))
		c.Args = func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr(fmt.Errorf("unknown action %q; %s", args[0], usage))
			}
			return nil
		}
		c.RunE = func(*cobra.Command, []string) error { return usageErr(errors.New(usage)) }
	}
}
