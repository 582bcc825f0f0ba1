package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/logs"
	"github.com/chatsafe/chatsafe/vault/hsm"
	vaultserver "github.com/chatsafe/chatsafe/vault/server"
)

// clusterFlags applies the cluster flags over the config file's settings.
func clusterFlags(o VaultServeOptions, cfg *vaultserver.ServerConfig) error {
	changed := o.changed
	if changed("node-id") {
		if cfg.Cluster == nil {
			cfg.Cluster = &vaultserver.ClusterConfig{}
		}
		cfg.Cluster.NodeID = o.NodeID
	}
	if cfg.Cluster == nil {
		for _, name := range []string{"raft-listen", "raft-advertise", "peers", "cluster-ca"} {
			if changed(name) {
				return usageErr(fmt.Errorf("--%s needs --node-id", name))
			}
		}
		return nil
	}
	c := cfg.Cluster
	if changed("raft-listen") {
		c.RaftListen = o.RaftListen
	}
	if changed("raft-advertise") {
		c.RaftAdvertise = o.RaftAdvertise
	}
	if changed("cluster-ca") {
		c.CAFile = o.ClusterCA
	}
	if changed("peers") {
		p, err := vaultserver.ParsePeers(o.Peers)
		if err != nil {
			return usageErr(fmt.Errorf("--peers: %w", err))
		}
		c.Peers = p
	}
	if c.NodeID == "" || c.RaftListen == "" || c.CAFile == "" {
		return usageErr(errors.New("a cluster node needs --node-id, --raft-listen and --cluster-ca"))
	}
	return nil
}

// newVaultCertCommand is `chatsafe vault cert`: make a node's self-signed
// certificate before its first start, so the cluster CA file can list every node.
func newVaultCertCommand() *cobra.Command {
	var listen, data string
	c := &cobra.Command{
		Use:   "cert",
		Short: "Make a vault node's self-signed certificate (DIR/tls/cert.pem) and print it",
		Long: `Make a vault node's self-signed certificate in DIR/tls/cert.pem (if there is
none) for the host it will listen on, and print it. Concatenate the prints of
every node into the file given to --cluster-ca (and to clients as --vault-ca).`,
		Example: `  chatsafe vault cert --listen vault1.example.org:8443 --data /var/lib/chatsafe-vault >> cluster-ca.pem`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if data == "" {
				return usageErr(errors.New("give --data DIR"))
			}
			p, err := vaultserver.EnsureCertificate(listen, data)
			if err != nil {
				return err
			}
			pem, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(pem)
			return err
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:8443", "the address the node will serve clients on (names the certificate)")
	c.Flags().StringVar(&data, "data", "", "the node's data directory")
	return c
}

// newVaultMembersCommand is `chatsafe vault members list|add|remove`: it
// talks to a node's raft port with mutual TLS, as a node does.
func newVaultMembersCommand() *cobra.Command {
	var via, clusterCA, data, tlsCert, tlsKey string
	run := func(cmd *cobra.Command, req vaultserver.MembersRequest) error {
		if via == "" || clusterCA == "" {
			return usageErr(errors.New("give --via HOST:PORT (a node's raft address) and --cluster-ca F"))
		}
		if tlsCert == "" && data != "" {
			tlsCert = filepath.Join(data, vaultserver.TLSCertFile)
			tlsKey = filepath.Join(data, "tls", "key.pem")
		}
		if tlsCert == "" || tlsKey == "" {
			return usageErr(errors.New("give --data DIR (a node's data directory) or --tls-cert and --tls-key trusted by the cluster CA"))
		}
		opts := vaultserver.AdminOptions{Addr: via, CAFile: clusterCA, CertFile: tlsCert, KeyFile: tlsKey}
		ms, err := vaultserver.ClusterMembers(cmd.Context(), opts, req)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		for _, m := range ms {
			role := "follower"
			if m.Leader {
				role = "leader"
			}
			fmt.Fprintf(out, "%s\t%s\t%s\n", m.ID, m.Addr, role)
		}
		if req.Op == "list" {
			return nil
		}
		// The change is made; what it means for the accounts' key shares
		// is a warning on stderr, not a failure.
		rep, err := vaultserver.ClusterShares(cmd.Context(), opts)
		if err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "note: could not count the accounts whose key shares this change concerns: %v\n", err)
			return nil
		}
		fmt.Fprint(cmd.ErrOrStderr(), vaultserver.MembershipWarning(rep, req, ms))
		return nil
	}
	members := &cobra.Command{
		Use:   "members",
		Short: "List, add or remove the nodes of a vault cluster",
		Long: `List, add or remove the voters of a vault cluster. The command connects to a
node's raft port (--via) with mutual TLS exactly like a node does: it presents
a certificate the cluster CA file trusts (a node's own, with --data DIR).
A follower passes the change to the leader. Start a new node with --node-id
and --raft-listen but without --peers, then add it here.

An account's key shares stay on the nodes that were members when its password
was set: a node added later holds none, a node removed takes its share away.
add and remove warn (on stderr) how many accounts that concerns and how many
of their share holders must stay; setting an account's password again shares
its key among the current nodes.`,
		Example: `  chatsafe vault members list --via 10.0.0.1:8444 --cluster-ca ca.pem --data /var/lib/chatsafe-vault`,
		Args:    cobra.NoArgs,
	}
	pf := members.PersistentFlags()
	pf.StringVar(&via, "via", "", "a node's raft address (host:port)")
	pf.StringVar(&clusterCA, "cluster-ca", "", "the cluster CA file")
	pf.StringVar(&data, "data", "", "a node's data directory, whose tls/cert.pem and key.pem authenticate this command")
	pf.StringVar(&tlsCert, "tls-cert", "", "certificate trusted by the cluster CA (instead of --data)")
	pf.StringVar(&tlsKey, "tls-key", "", "its private key")
	members.AddCommand(
		&cobra.Command{
			Use: "list", Short: "List the voters", Args: cobra.NoArgs,
			Long:    "list prints each voter of the cluster: its id, raft address and role.",
			Example: "  chatsafe vault members list --via 10.0.0.1:8444 --cluster-ca ca.pem --data DIR",
			RunE: func(cmd *cobra.Command, _ []string) error {
				return run(cmd, vaultserver.MembersRequest{Op: "list"})
			},
		},
		&cobra.Command{
			Use: "add ID HOST:PORT", Short: "Add a node (started with --node-id, without --peers)", Args: cobra.ExactArgs(2),
			Long:    "add makes a running node, started with --node-id and --raft-listen but no --peers, a voter.",
			Example: "  chatsafe vault members add node4 10.0.0.4:8444 --via 10.0.0.1:8444 --cluster-ca ca.pem --data DIR",
			RunE: func(cmd *cobra.Command, args []string) error {
				return run(cmd, vaultserver.MembersRequest{Op: "add", ID: args[0], Addr: args[1]})
			},
		},
		&cobra.Command{
			Use: "remove ID", Short: "Remove a node", Args: cobra.ExactArgs(1),
			Long:    "remove takes a node out of the voters; the cluster keeps working while a quorum of the rest is up.",
			Example: "  chatsafe vault members remove node4 --via 10.0.0.1:8444 --cluster-ca ca.pem --data DIR",
			RunE: func(cmd *cobra.Command, args []string) error {
				return run(cmd, vaultserver.MembersRequest{Op: "remove", ID: args[0]})
			},
		},
	)
	return members
}

// VaultServeOptions are the flags of `chatsafe vault serve`.
type VaultServeOptions struct {
	Config, Listen, Data, TLSCert, TLSKey    string
	MaxAttempts                              int
	NodeID, RaftListen, RaftAdvertise, Peers string
	ClusterCA                                string
	PKCS11Module, PKCS11Token, PKCS11PINFile string
	// LogLevel and LogFormat are the daemon's log.level and log.format.
	LogLevel, LogFormat string

	// changed reports whether a flag was given (flags override the config
	// file only when given).
	changed func(name string) bool
}

func newVaultCommand(*globalOptions) *cobra.Command {
	vaultCmd := &cobra.Command{
		Use:   "vault",
		Short: "Run the Backup Key Vault server",
		Long: `The Backup Key Vault keeps backup keys behind passwords (OPAQUE) and erases a
key after too many wrong passwords. serve runs a node; key, cert and members set
up and change a replicated cluster.`,
		Example: `  chatsafe vault serve --data /var/lib/chatsafe-vault --listen 0.0.0.0:8443`,
		Args:    cobra.NoArgs,
	}
	vaultCmd.AddCommand(newVaultServeCommand(), newVaultMembersCommand(), newVaultCertCommand(), newVaultKeyCommand())
	return vaultCmd
}

func newVaultServeCommand() *cobra.Command {
	var o VaultServeOptions
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run a Backup Key Vault (HTTPS) in the foreground",
		Long: `Run a Backup Key Vault: it keeps backup keys behind passwords with OPAQUE,
never learns a password or a key, and erases a key after too many wrong
passwords. Without --tls-cert/--tls-key it makes a self-signed certificate on
first start in DIR/tls/cert.pem; give that file to clients (--vault-ca).
A single node makes its master key (DIR/master.key) on first start; a cluster
node (--node-id) needs the cluster's, the same on every node, in place before
its first start: make it once with chatsafe vault key new and copy it. A node
joining a running cluster copies master.key from a node of the cluster.`,
		Example: `  chatsafe vault serve --data /var/lib/chatsafe-vault
  chatsafe vault serve --config vault.yaml --node-id n1 --raft-listen 10.0.0.1:8444 --cluster-ca ca.pem --peers n1=10.0.0.1:8444,n2=10.0.0.2:8444,n3=10.0.0.3:8444`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.changed = cmd.Flags().Changed
			return runVaultServe(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	f := serve.Flags()
	f.StringVar(&o.Config, "config", "", "vault server config file (YAML: listen, data, tls_cert, tls_key, max_attempts, rate limits)")
	f.StringVar(&o.Listen, "listen", "127.0.0.1:8443", "address to listen on (host:port)")
	f.StringVar(&o.Data, "data", "", "data directory (database, master key, generated certificate)")
	f.StringVar(&o.TLSCert, "tls-cert", "", "TLS certificate (PEM); default: self-signed in DIR/tls/cert.pem")
	f.StringVar(&o.TLSKey, "tls-key", "", "TLS private key (PEM) for --tls-cert")
	f.IntVar(&o.MaxAttempts, "max-attempts", vaultserver.DefaultMaxAttempts, "wrong passwords before a backup key is erased (the same on every cluster node)")
	f.StringVar(&o.NodeID, "node-id", "", "run as this node of a Raft cluster (with --raft-listen, --cluster-ca, --peers)")
	f.StringVar(&o.RaftListen, "raft-listen", "", "cluster: address for raft and node-to-node RPC (host:port, mutual TLS)")
	f.StringVar(&o.RaftAdvertise, "raft-advertise", "", "cluster: address peers reach this node at (default: its --peers entry)")
	f.StringVar(&o.Peers, "peers", "", "cluster: bootstrap voters ID=host:port,... including this node (first start only); omit to join later with vault members add")
	f.StringVar(&o.ClusterCA, "cluster-ca", "", "cluster: PEM certificates a peer's certificate must chain to (a cluster CA, or every node's tls/cert.pem)")
	f.StringVar(&o.PKCS11Module, "pkcs11-module", "", "keep the master key in a PKCS#11 token: the module (e.g. /usr/lib/softhsm/libsofthsm2.so)")
	f.StringVar(&o.PKCS11Token, "pkcs11-token", "", "PKCS#11 token label")
	f.StringVar(&o.PKCS11PINFile, "pkcs11-pin-file", "", "file holding the token's user PIN (mode 0600)")
	f.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.LogFormat, "log-format", "text", "text or json (the daemon's log schema either way)")
	return serve
}

// vaultServerConfig is the config file with the flags that were given
// applied over it.
func vaultServerConfig(o VaultServeOptions) (vaultserver.ServerConfig, error) {
	var cfg vaultserver.ServerConfig
	if o.Config != "" {
		if err := vaultserver.LoadServerConfigFile(o.Config, &cfg); err != nil {
			return cfg, usageErr(err)
		}
	}
	if o.changed("listen") || cfg.Listen == "" {
		cfg.Listen = o.Listen
	}
	if o.changed("data") {
		cfg.DataDir = o.Data
	}
	if o.changed("tls-cert") {
		cfg.TLSCert = o.TLSCert
	}
	if o.changed("tls-key") {
		cfg.TLSKey = o.TLSKey
	}
	if o.changed("max-attempts") {
		if o.MaxAttempts < 1 {
			return cfg, usageErr(errors.New("--max-attempts must be at least 1"))
		}
		cfg.MaxAttempts = o.MaxAttempts
	}
	if cfg.DataDir == "" {
		return cfg, usageErr(errors.New("vault serve needs a data directory: --data DIR (or data: in --config)"))
	}
	if err := clusterFlags(o, &cfg); err != nil {
		return cfg, err
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return cfg, usageErr(errors.New("give both --tls-cert and --tls-key, or neither for a self-signed certificate"))
	}
	return cfg, nil
}

func runVaultServe(ctx context.Context, o VaultServeOptions, stderr io.Writer) error {
	cfg, err := vaultServerConfig(o)
	if err != nil {
		return err
	}
	if o.changed("pkcs11-module") || o.changed("pkcs11-token") || o.changed("pkcs11-pin-file") {
		if o.PKCS11Module == "" || o.PKCS11Token == "" || o.PKCS11PINFile == "" {
			return usageErr(errors.New("an HSM needs all of --pkcs11-module, --pkcs11-token and --pkcs11-pin-file"))
		}
		pin, err := hsm.ReadPINFile(o.PKCS11PINFile)
		if err != nil {
			return usageErr(err)
		}
		mk, err := hsm.Open(hsm.Config{Module: o.PKCS11Module, TokenLabel: o.PKCS11Token, PIN: pin})
		if err != nil {
			return err
		}
		defer mk.Close()
		cfg.MasterKey = mk
	}
	// The daemon's schema, so one log pipeline reads both.
	log, err := logs.New(logs.Options{Level: o.LogLevel, Format: o.LogFormat, Out: stderr})
	if err != nil {
		return usageErr(err)
	}
	defer func() { _ = log.Sync() }()
	cfg.Log = log.Named("vault")
	srv, err := vaultserver.NewServer(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "chatsafe vault listening on https://%s\n", srv.Addr())
	if cfg.Cluster != nil {
		fmt.Fprintf(stderr, "cluster node %s; peers connect to it on %s\n", cfg.Cluster.NodeID, cfg.Cluster.RaftListen)
	}
	if cfg.TLSCert == "" {
		abs, _ := filepath.Abs(filepath.Join(cfg.DataDir, vaultserver.TLSCertFile))
		fmt.Fprintf(stderr, "clients pin its certificate with --vault-ca %s\n", abs)
	}
	return srv.Serve(ctx)
}
