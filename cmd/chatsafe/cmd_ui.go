package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/statusui"
)

// UIOptions are the flags of `chatsafe ui`.
type UIOptions struct {
	Config   string
	PrintURL bool
}

func newUICommand(g *globalOptions) *cobra.Command {
	var opts UIOptions
	cmd := &cobra.Command{
		Use:   "ui [--config FILE] [--print-url]",
		Short: "Open the daemon's status page in a browser",
		Long: `Open the status page the daemon serves on ui_listen (a loopback HOST:PORT in
the config; off by default) in the default browser, with the token the
daemon keeps in state_dir/ui-token. --print-url prints the URL instead, for
another browser or an SSH tunnel. Anyone with the URL can use the page:
keep it to yourself.`,
		Example: `  chatsafe ui
  chatsafe ui --print-url
  ssh -L 8385:127.0.0.1:8385 host   # then open the printed URL locally`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUI(cmd.Context(), opts, g, cmd.OutOrStdout())
		},
	}
	configFlag(cmd, &opts.Config)
	cmd.Flags().BoolVar(&opts.PrintURL, "print-url", false, "print the URL with its token instead of opening a browser")
	return cmd
}

func runUI(ctx context.Context, opts UIOptions, g *globalOptions, out io.Writer) error {
	cfg, err := g.loadConfig(g.configPath(opts.Config))
	if err != nil {
		return err
	}
	u, err := statusPageURL(cfg)
	if err != nil {
		return err
	}
	if opts.PrintURL {
		_, err := fmt.Fprintln(out, u)
		return err
	}
	if err := openBrowser(ctx, u); err != nil {
		_, _ = fmt.Fprintf(out, "could not start a browser (%v); open this URL yourself:\n%s\n", err, u)
		return nil
	}
	_, err = fmt.Fprintf(out, "opened the status page in the browser (chatsafe ui --print-url shows its URL)\n")
	return err
}

// statusPageURL is the page's URL with the token, which the page swaps
// for a cookie on first load.
func statusPageURL(cfg *configs.Config) (string, error) {
	if cfg.UIListen == "" {
		return "", usageErr(fmt.Errorf("%w: the status page is off: set ui_listen (for example ui_listen: 127.0.0.1:8385) in %s and restart the daemon", configs.ErrConfig, cfg.Path))
	}
	host, port, err := net.SplitHostPort(cfg.UIListen)
	if err != nil || port == "0" {
		return "", usageErr(fmt.Errorf("%w: ui_listen %q needs a fixed port for chatsafe ui to find the page", configs.ErrConfig, cfg.UIListen))
	}
	tok, err := statusui.ReadToken(cfg.StateDir)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: "/", RawQuery: url.Values{"token": {tok}}.Encode()}
	return u.String(), nil
}

// openBrowser hands the URL to the desktop's opener.
func openBrowser(ctx context.Context, u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.CommandContext(ctx, "open", u)
	case "windows":
		cmd = exec.CommandContext(ctx, "rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.CommandContext(ctx, "xdg-open", u)
	}
	return cmd.Run()
}
