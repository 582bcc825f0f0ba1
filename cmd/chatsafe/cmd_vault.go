package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/vault"
)

func init() {
	var (
		configPath, listen, data, tlsCert, tlsKey string
		maxAttempts                               int
	)
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run a Backup Key Vault (HTTPS) in the foreground",
		Long: `Run a Backup Key Vault: it keeps backup keys behind passwords with OPAQUE,
never learns a password or a key, and erases a key after too many wrong
passwords. Without --tls-cert/--tls-key it makes a self-signed certificate on
first start in DIR/tls/cert.pem; give that file to clients (--vault-ca).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg vault.ServerConfig
			if configPath != "" {
				if err := vault.LoadServerConfigFile(configPath, &cfg); err != nil {
					return usageErr(err)
				}
			}
			f := cmd.Flags()
			if f.Changed("listen") || cfg.Listen == "" {
				cfg.Listen = listen
			}
			if f.Changed("data") {
				cfg.DataDir = data
			}
			if f.Changed("tls-cert") {
				cfg.TLSCert = tlsCert
			}
			if f.Changed("tls-key") {
				cfg.TLSKey = tlsKey
			}
			if f.Changed("max-attempts") {
				if maxAttempts < 1 {
					return usageErr(errors.New("--max-attempts must be at least 1"))
				}
				cfg.MaxAttempts = maxAttempts
			}
			if cfg.DataDir == "" {
				return usageErr(errors.New("vault serve needs a data directory: --data DIR (or data: in --config)"))
			}
			if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
				return usageErr(errors.New("give both --tls-cert and --tls-key, or neither for a self-signed certificate"))
			}
			log, err := zap.NewProduction()
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			cfg.Log = log
			srv, err := vault.NewServer(cfg)
			if err != nil {
				return err
			}
			out := cmd.ErrOrStderr()
			fmt.Fprintf(out, "chatsafe vault listening on https://%s\n", srv.Addr())
			if cfg.TLSCert == "" {
				abs, _ := filepath.Abs(filepath.Join(cfg.DataDir, vault.TLSCertFile))
				fmt.Fprintf(out, "clients pin its certificate with --vault-ca %s\n", abs)
			}
			return srv.Serve(cmd.Context())
		},
	}
	serve.Flags().StringVar(&configPath, "config", "", "vault server config file (YAML: listen, data, tls_cert, tls_key, max_attempts, rate limits)")
	serve.Flags().StringVar(&listen, "listen", "127.0.0.1:8443", "address to listen on (host:port)")
	serve.Flags().StringVar(&data, "data", "", "data directory (database, master key, generated certificate)")
	serve.Flags().StringVar(&tlsCert, "tls-cert", "", "TLS certificate (PEM); default: self-signed in DIR/tls/cert.pem")
	serve.Flags().StringVar(&tlsKey, "tls-key", "", "TLS private key (PEM) for --tls-cert")
	serve.Flags().IntVar(&maxAttempts, "max-attempts", vault.DefaultMaxAttempts, "wrong passwords before a backup key is erased")

	vaultCmd := &cobra.Command{
		Use:   "vault",
		Short: "Run the Backup Key Vault server",
		Args:  cobra.NoArgs,
	}
	vaultCmd.AddCommand(serve)
	rootCmd.AddCommand(vaultCmd)
}
