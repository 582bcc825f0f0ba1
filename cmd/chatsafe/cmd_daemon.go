package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/logs"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/service"
)

// DaemonOptions are the flags of `chatsafe daemon`.
type DaemonOptions struct {
	Config string
	Source string

	// wrapUpload wraps each remote as the uploaders see it; only test
	// builds set it (testhooks.go, build tag chatsafe_testhooks).
	wrapUpload func(remotes.Remote) remotes.Remote
}

func newDaemonCommand(g *globalOptions) *cobra.Command {
	var opts DaemonOptions
	cmd := &cobra.Command{
		Use:   "daemon [--config FILE] [--source DIR]",
		Short: "Run the backup service in the foreground",
		Long: `Run the backup service in the foreground: watch the source directory, commit
a snapshot after each burst of changes and upload it to every remote. This is
what the system service runs. SIGTERM or SIGINT stops it cleanly, and a
second one at once (committed deltas are safe either way); SIGHUP reloads
the configuration.

When the first remote (or the vault) is out of reach at start, it starts
offline: "chatsafe status" shows the state "offline" and when it tries again
(after 5 s, doubling up to every 5 minutes); it backs up once it can open the
repository.

With no config file, "chatsafe daemon --source DIR" sets up a new installation
on the embedded defaults and shows its recovery key once. With --config FILE
naming a file that does not exist yet, the new installation is made at FILE:
its state, local remote, socket and recovery-key file go beside it.

Once the config exists, --source must name its source (however spelled:
symlinks are followed): another directory is refused with exit 2, as backing
it up would mix two chat histories in one backup. To change what an
installation backs up, edit the config's "source:" line; to back up another
directory separately, give it its own --config.`,
		Example: `  chatsafe daemon
  chatsafe daemon --source ~/chats
  chatsafe daemon --config ~/chatsafe/chatsafe.yaml --source ~/chats`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), opts, g, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&opts.Config, "config", "", "config file (default "+configs.DefaultConfigPath()+"); a new one is made there with --source")
	cmd.Flags().StringVar(&opts.Source, "source", "", "chat-history directory to back up (without a config, starts a new installation on defaults; with one, must be its source)")
	registerTestHooks(cmd, &opts)
	return cmd
}

func runDaemon(ctx context.Context, opts DaemonOptions, g *globalOptions, stdout io.Writer) error {
	if g.ownsProcess {
		capDaemonProcs() // before the store sizes its workers
	}
	g.memory.forDaemon()
	// Under Windows' service control manager stderr goes nowhere: the
	// Event Log gets the warnings and errors, from the start.
	events := service.EventLogSource()
	boot, err := logs.New(logs.Options{Level: "info", EventLog: events})
	if err != nil && events != "" {
		events = "" // the log file still has it all
		boot, err = logs.New(logs.Options{Level: "info"})
	}
	if err != nil {
		return err
	}
	defer boot.Close()
	configPath := opts.Config
	if configPath != "" {
		// The status names the config; a relative path would mean nothing
		// to a client elsewhere.
		if configPath, err = filepath.Abs(configPath); err != nil {
			return usageErr(fmt.Errorf("--config %s: %w", opts.Config, err))
		}
	}
	if opts.Source != "" {
		// Checked here so the error names the flag the user typed; the
		// config's check would name a key of a file not yet written.
		if st, err := os.Stat(opts.Source); err != nil || !st.IsDir() {
			return usageErr(fmt.Errorf("--source %s is not a directory: give the chat-history directory to back up", opts.Source))
		}
	}
	cfg, created, err := daemon.LoadOrCreate(ctx, configPath, opts.Source, boot.Logger)
	if err != nil {
		if events != "" { // nobody reads what the command line prints
			boot.Error("chatsafe daemon cannot start", zap.Error(err))
		}
		return err
	}
	if created != nil {
		printCreated(stdout, created)
	}
	log, err := logs.New(logs.Options{Level: cfg.Log.Level, Format: cfg.Log.Format, File: daemonLogFile(runtime.GOOS, cfg.StateDir), EventLog: events})
	if err != nil {
		if events != "" {
			boot.Error("chatsafe daemon cannot start", zap.Error(err))
		}
		return usageErr(fmt.Errorf("%w: %w", configs.ErrConfig, err))
	}
	defer log.Close()
	d, err := daemon.New(daemonOptions(cfg, opts, g, log))
	if err != nil {
		return err
	}
	return runWithReload(ctx, d, log)
}

// daemonOptions runs the daemon on cfg, as LoadOrCreate made it (the
// file's, whose source --source named). A reload reads the file again and,
// with --source given, keeps the source it started on. --retry-for is in no config: it is the Retry option,
// over the retry_for of this config and of every reloaded one.
func daemonOptions(cfg *configs.Config, opts DaemonOptions, g *globalOptions, log *logs.Logger) daemon.Options {
	return daemon.Options{
		Config:     cfg,
		Log:        log,
		Version:    binaryVersion(),
		FetchKey:   instance.FetchKeyFromVault,
		WrapUpload: opts.wrapUpload,
		Retry:      g.daemonRetry(log.Logger),
		// At the first committed cycle: the daemon's own rule then starts
		// from the limit this sets.
		FirstCycleDone: g.memory.daemonTakesOver,
		// A backup the CLI asks for exits as it would have here.
		ErrorClass: errorClass,
		// --source is the config's source (daemon.LoadOrCreate refuses
		// another), and a changed source waits for a restart
		// (Daemon.reload): nothing to pin here.
		Reload: func() (*configs.Config, error) { return configs.Load(cfg.Path) },
	}
}

// daemonLogFile is the file the daemon logs to besides stderr on goos, ""
// for none: on Windows, where a service's stderr goes nowhere, the state
// directory's chatsafe.log (docs/platforms.md). systemd's journal and
// launchd's StandardErrorPath keep stderr elsewhere.
func daemonLogFile(goos, stateDir string) string {
	if goos == "windows" {
		return filepath.Join(stateDir, "chatsafe.log")
	}
	return ""
}

// runWithReload runs d until ctx ends, reloading its config on SIGHUP.
func runWithReload(ctx context.Context, d *daemon.Daemon, log *logs.Logger) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-hup:
				log.Info("SIGHUP: reloading the configuration")
				d.Reload()
			case <-stop:
				return
			}
		}
	}()
	// launchd and Windows: final exit codes stop the service for good.
	err := service.Run(ctx, d.Run, exitCode, log.Out)
	close(stop)
	<-done
	return err
}

// printCreated shows a new installation's recovery key once, on stdout,
// never in the log.
func printCreated(w io.Writer, c *daemon.Created) {
	fmt.Fprintf(w, `New chatsafe installation (config %s).

Your recovery key is:

    %s

Keep it somewhere safe, away from this device: with it, and only with it,
your backups can be restored if this device is lost. It was also saved to
%s (mode 0600); move it off this device.

`, c.ConfigPath, c.RecoveryKey, c.RecoveryKeyFile)
}
