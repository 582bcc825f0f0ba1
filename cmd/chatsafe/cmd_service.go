package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/service"
)

// serviceFlags are shared by every `chatsafe service` subcommand.
type serviceFlags struct {
	user   bool
	config string
}

// configPath is --config made absolute, or the default config for the
// scope: /etc/chatsafe/config.yaml as root, the XDG one otherwise.
func (f *serviceFlags) configPath() (string, error) {
	p := f.config
	if p == "" {
		p = configs.DefaultConfigPath()
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", usageErr(fmt.Errorf("--config %s: %w", p, err))
	}
	return abs, nil
}

func (f *serviceFlags) manager() (*service.Manager, string, error) {
	cfg, err := f.configPath()
	if err != nil {
		return nil, "", err
	}
	m, err := service.New(f.user, cfg)
	return m, cfg, err
}

func (f *serviceFlags) scope() string {
	if f.user {
		return " --user"
	}
	return ""
}

func init() {
	var f serviceFlags
	cmd := &cobra.Command{
		Use:   "service install|uninstall|start|stop|status [--user] [--config FILE]",
		Short: "Run chatsafe as a background service (systemd, launchd, Windows)",
		Long: `service installs, controls and removes the background service that runs
` + "`chatsafe daemon --config FILE`" + `: a systemd system unit (as root), a systemd
user unit with --user, a launchd daemon or agent on macOS, a Windows service.
In a container there is no service manager: run ` + "`chatsafe daemon`" + ` under
your own supervisor instead. See docs/service.md.`,
		// A RunE makes cobra reject unknown actions ("unknown command")
		// instead of printing help and exiting 0.
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usageErr(errors.New("name an action: chatsafe service install|uninstall|start|stop|status [--user]"))
		},
	}
	cmd.PersistentFlags().BoolVar(&f.user, "user", false, "a service of the current user (systemd --user, launchd agent) instead of a system service")
	cmd.PersistentFlags().StringVar(&f.config, "config", "", "config file the service runs with (default "+configs.DefaultConfigPath()+")")

	cmd.AddCommand(&cobra.Command{
		Use:   "install [--user] [--config FILE]",
		Short: "Install, enable and start the service",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, cfgPath, err := f.manager()
			if err != nil {
				return err
			}
			if err := m.CheckPrivileges(); err != nil {
				return err
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("locating the chatsafe binary: %w", err)
			}
			u, err := service.FromConfig(exe, cfg, f.user)
			if err != nil {
				return err
			}
			u.NoRestartExitCodes = []int{exitUsage, exitWrongKey, exitKeyErased}
			res, err := m.Install(cmd.Context(), u)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if res.Path != "" {
				fmt.Fprintf(out, "installed %s and started it\n", res.Path)
			} else {
				fmt.Fprintln(out, "installed the chatsafe service and started it")
			}
			for _, n := range res.Notes {
				fmt.Fprintln(out, "note:", n)
			}
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "uninstall [--user]",
		Short: "Stop, disable and remove the service",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, _, err := f.manager()
			if err != nil {
				return err
			}
			path := m.Path()
			if err := m.Uninstall(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed the chatsafe%s service %s\n", f.scope(), path)
			return nil
		},
	})
	for _, c := range []struct {
		verb, short, done string
		run               func(*service.Manager, *cobra.Command) error
	}{
		{"start", "Start the installed service", "started", func(m *service.Manager, cmd *cobra.Command) error { return m.Start(cmd.Context()) }},
		{"stop", "Stop the service (it starts again at boot)", "stopped", func(m *service.Manager, cmd *cobra.Command) error { return m.Stop(cmd.Context()) }},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   c.verb + " [--user]",
			Short: c.short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				m, _, err := f.manager()
				if err != nil {
					return err
				}
				if err := c.run(m, cmd); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s the chatsafe%s service\n", c.done, f.scope())
				return nil
			},
		})
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status [--user]",
		Short: "Print running, stopped, failed or not installed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, _, err := f.manager()
			if err != nil {
				return err
			}
			st, err := m.Status(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), st)
			return nil
		},
	})
	rootCmd.AddCommand(cmd)
}
