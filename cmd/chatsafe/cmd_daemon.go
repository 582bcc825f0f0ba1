package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/logs"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/service"
)

func init() {
	var configPath, source string
	var uploadLatency time.Duration
	cmd := &cobra.Command{
		Use:   "daemon [--config FILE] [--source DIR]",
		Short: "Run the backup service in the foreground",
		Long: `Run the backup service in the foreground: watch the source directory, commit
a snapshot after each burst of changes and upload it to every remote. This is
what the system service runs. SIGTERM or SIGINT stops it cleanly; SIGHUP
reloads the configuration.

With no config file, "chatsafe daemon --source DIR" sets up a new installation
on the embedded defaults and shows its recovery key once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			boot, err := logs.New(logs.Options{Level: "info"})
			if err != nil {
				return err
			}
			cfg, created, err := daemon.LoadOrCreate(ctx, configPath, source, boot.Logger)
			if err != nil {
				return err
			}
			if created != nil {
				// Shown once, on stdout, never in the log.
				fmt.Fprintf(cmd.OutOrStdout(), `New chatsafe installation (config %s).

Your recovery key is:

    %s

Keep it somewhere safe, away from this device: with it, and only with it,
your backups can be restored if this device is lost. It was also saved to
%s (mode 0600); move it off this device.

`, created.ConfigPath, created.RecoveryKey, created.RecoveryKeyFile)
			}
			log, err := logs.New(logs.Options{Level: cfg.Log.Level, Format: cfg.Log.Format})
			if err != nil {
				return usageErr(fmt.Errorf("%w: %w", configs.ErrConfig, err))
			}
			defer log.Sync()
			opts := daemon.Options{
				Config:   cfg,
				Log:      log,
				Version:  version,
				FetchKey: instance.FetchKeyFromVault,
				Reload: func() (*configs.Config, error) {
					next, err := configs.Load(cfg.Path)
					if err == nil && source != "" {
						next.Source = cfg.Source
					}
					return next, err
				},
			}
			if uploadLatency > 0 {
				opts.WrapUpload = func(r remotes.Remote) remotes.Remote {
					return remotes.Faulty(r, remotes.FaultOptions{Latency: uploadLatency})
				}
			}
			d, err := daemon.New(opts)
			if err != nil {
				return err
			}
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
			err = service.Run(ctx, d.Run, exitCode) // launchd and Windows: final exit codes stop the service for good
			close(stop)
			<-done
			return err
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "config file (default "+configs.DefaultConfigPath()+")")
	cmd.Flags().StringVar(&source, "source", "", "chat-history directory to back up (overrides the config's; without a config, starts a new installation on defaults)")
	cmd.Flags().DurationVar(&uploadLatency, "test-upload-latency", 0, "testing only: delay every call the uploaders make")
	_ = cmd.Flags().MarkHidden("test-upload-latency")
	rootCmd.AddCommand(cmd)
}
