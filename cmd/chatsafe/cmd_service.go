package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/service"
)

// ServiceOptions are the flags shared by every `chatsafe service` subcommand.
type ServiceOptions struct {
	User   bool
	Config string
	// Print shows the unit install would write, and installs nothing.
	Print bool

	g *globalOptions
}

// configPath is --config made absolute, or the default config for the
// scope: /etc/chatsafe/config.yaml as root, the XDG one otherwise.
func (f *ServiceOptions) configPath() (string, error) {
	p := f.g.configPath(f.Config)
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", usageErr(fmt.Errorf("--config %s: %w", p, err))
	}
	return abs, nil
}

func (f *ServiceOptions) manager() (*service.Manager, string, error) {
	cfg, err := f.configPath()
	if err != nil {
		return nil, "", err
	}
	m, err := service.New(f.User, cfg)
	return m, cfg, err
}

func (f *ServiceOptions) scope() string {
	if f.User {
		return " --user"
	}
	return ""
}

func newServiceCommand(g *globalOptions) *cobra.Command {
	f := &ServiceOptions{g: g}
	cmd := &cobra.Command{
		Use:   "service install|uninstall|start|stop|status [--user] [--config FILE]",
		Short: "Run chatsafe as a background service (systemd, launchd, Windows)",
		Long: `service installs, controls and removes the background service that runs
` + "`chatsafe daemon --config FILE`" + `: a systemd system unit (as root), a systemd
user unit with --user, a launchd daemon or agent on macOS, a Windows service.
In a container there is no service manager: run ` + "`chatsafe daemon`" + ` under
your own supervisor instead. See docs/service.md.`,
		Example: `  sudo chatsafe service install
  chatsafe service install --user --config ~/.config/chatsafe/config.yaml
  chatsafe service status --user`,
		// A RunE makes cobra reject unknown actions ("unknown command")
		// instead of printing help and exiting 0.
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usageErr(errors.New("name an action: chatsafe service install|uninstall|start|stop|status [--user]"))
		},
	}
	cmd.PersistentFlags().BoolVar(&f.User, "user", false, "a service of the current user (systemd --user, launchd agent) instead of a system service")
	cmd.PersistentFlags().StringVar(&f.Config, "config", "", "config file the service runs with (default "+configs.DefaultConfigPath()+")")

	install := &cobra.Command{
		Use:   "install [--user] [--config FILE] [--print]",
		Short: "Install, enable and start the service",
		Args:  cobra.NoArgs,
		Example: `  sudo chatsafe service install --config /etc/chatsafe/config.yaml
  chatsafe service install --user
  chatsafe service install --user --print > chatsafe.service`,
		Long: `install writes the service unit for ` + "`chatsafe daemon --config FILE`" + `
(restarted on failure, except on exit codes that a restart cannot fix: bad
usage or config, wrong key, erased key, a vault login that failed after
spending a password attempt), enables it and starts it. --print
prints that unit (the launchd plist on macOS, the service settings on
Windows) and installs nothing; it needs no service manager, so it works in a
container or for a unit you install yourself.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.Print {
				return runServicePrint(f, cmd.OutOrStdout())
			}
			return runServiceInstall(cmd.Context(), f, cmd.OutOrStdout())
		},
	}
	install.Flags().BoolVar(&f.Print, "print", false, "print the unit (plist, service settings) install would write, and install nothing")
	cmd.AddCommand(install)
	cmd.AddCommand(newServiceUninstallCommand(f))
	for _, c := range []struct {
		verb, short, long, done string
		run                     func(*service.Manager, *cobra.Command) error
	}{
		{"start", "Start the installed service", "start asks the service manager to start the installed service now.", "started",
			func(m *service.Manager, cmd *cobra.Command) error { return m.Start(cmd.Context()) }},
		{"stop", "Stop the service (it starts again at boot)", "stop asks the service manager to stop the service; it stays enabled and starts\nagain at boot (uninstall removes it).", "stopped",
			func(m *service.Manager, cmd *cobra.Command) error { return m.Stop(cmd.Context()) }},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:     c.verb + " [--user]",
			Short:   c.short,
			Long:    c.long,
			Example: "  chatsafe service " + c.verb + " --user",
			Args:    cobra.NoArgs,
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
	cmd.AddCommand(newServiceStatusCommand(f))
	return cmd
}

// unit is the service unit for the config, as install writes it.
func (f *ServiceOptions) unit(cfgPath string) (service.Unit, error) {
	cfg, err := f.g.loadConfig(cfgPath)
	if err != nil {
		return service.Unit{}, err
	}
	exe, err := os.Executable()
	if err != nil {
		return service.Unit{}, fmt.Errorf("locating the chatsafe binary: %w", err)
	}
	u, err := service.FromConfig(exe, cfg, f.User)
	if err != nil {
		return service.Unit{}, err
	}
	u.NoRestartExitCodes = []int{exitUsage, exitWrongKey, exitKeyErased, exitAttemptSpent}
	return u, nil
}

func runServicePrint(f *ServiceOptions, stdout io.Writer) error {
	cfgPath, err := f.configPath()
	if err != nil {
		return err
	}
	u, err := f.unit(cfgPath)
	if err != nil {
		return err
	}
	s, err := service.Render("", u)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, s)
	return err
}

func runServiceInstall(ctx context.Context, f *ServiceOptions, stdout io.Writer) error {
	m, cfgPath, err := f.manager()
	if err != nil {
		return err
	}
	if err := m.CheckPrivileges(); err != nil {
		return err
	}
	u, err := f.unit(cfgPath)
	if err != nil {
		return err
	}
	res, err := m.Install(ctx, u)
	if err != nil {
		return err
	}
	if res.Path != "" {
		fmt.Fprintf(stdout, "installed %s and started it\n", res.Path)
	} else {
		fmt.Fprintln(stdout, "installed the chatsafe service and started it")
	}
	for _, n := range res.Notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	return nil
}

func newServiceUninstallCommand(f *ServiceOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "uninstall [--user]",
		Short: "Stop, disable and remove the service",
		Long: `uninstall stops the service, disables it and removes its unit. The config,
the state and the backups are left alone.`,
		Example: `  chatsafe service uninstall --user`,
		Args:    cobra.NoArgs,
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
	}
}

func newServiceStatusCommand(f *ServiceOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "status [--user]",
		Short: "Print running, stopped, failed or not installed",
		Long: `status prints what the service manager says of the chatsafe service. What
the daemon itself is doing is ` + "`chatsafe status`" + `.`,
		Example: `  chatsafe service status --user`,
		Args:    cobra.NoArgs,
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
	}
}
