package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/vault/hsm"
	vaultserver "github.com/chatsafe/chatsafe/vault/server"
)

// clusterFlags applies the cluster flags over the config file's settings.
func clusterFlags(cmd *cobra.Command, cfg *vaultserver.ServerConfig, nodeID, raftListen, raftAdvertise, peers, clusterCA string) error {
	f := cmd.Flags()
	if f.Changed("node-id") {
		if cfg.Cluster == nil {
			cfg.Cluster = &vaultserver.ClusterConfig{}
		}
		cfg.Cluster.NodeID = nodeID
	}
	if cfg.Cluster == nil {
		for _, name := range []string{"raft-listen", "raft-advertise", "peers", "cluster-ca"} {
			if f.Changed(name) {
				return usageErr(fmt.Errorf("--%s needs --node-id", name))
			}
		}
		return nil
	}
	c := cfg.Cluster
	if f.Changed("raft-listen") {
		c.RaftListen = raftListen
	}
	if f.Changed("raft-advertise") {
		c.RaftAdvertise = raftAdvertise
	}
	if f.Changed("cluster-ca") {
		c.CAFile = clusterCA
	}
	if f.Changed("peers") {
		p, err := vaultserver.ParsePeers(peers)
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

// certCmd is `chatsafe vault cert`: make a node's self-signed certificate
// before its first start, so the cluster CA file can list every node.
func certCmd() *cobra.Command {
	var listen, data string
	c := &cobra.Command{
		Use:   "cert",
		Short: "Make a vault node's self-signed certificate (DIR/tls/cert.pem) and print it",
		Long: `Make a vault node's self-signed certificate in DIR/tls/cert.pem (if there is
none) for the host it will listen on, and print it. Concatenate the prints of
every node into the file given to --cluster-ca (and to clients as --vault-ca).`,
		Args: cobra.NoArgs,
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

// membersCmd is `chatsafe vault members list|add|remove`: it talks to a
// node's raft port with mutual TLS, as a node does.
func membersCmd() *cobra.Command {
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
		ms, err := vaultserver.ClusterMembers(cmd.Context(), vaultserver.AdminOptions{Addr: via, CAFile: clusterCA, CertFile: tlsCert, KeyFile: tlsKey}, req)
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
		return nil
	}
	members := &cobra.Command{
		Use:   "members",
		Short: "List, add or remove the nodes of a vault cluster",
		Long: `List, add or remove the voters of a vault cluster. The command connects to a
node's raft port (--via) with mutual TLS exactly like a node does: it presents
a certificate the cluster CA file trusts (a node's own, with --data DIR).
A follower passes the change to the leader. Start a new node with --node-id
and --raft-listen but without --peers, then add it here.`,
		Args: cobra.NoArgs,
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
			RunE: func(cmd *cobra.Command, _ []string) error {
				return run(cmd, vaultserver.MembersRequest{Op: "list"})
			},
		},
		&cobra.Command{
			Use: "add ID HOST:PORT", Short: "Add a node (started with --node-id, without --peers)", Args: cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return run(cmd, vaultserver.MembersRequest{Op: "add", ID: args[0], Addr: args[1]})
			},
		},
		&cobra.Command{
			Use: "remove ID", Short: "Remove a node", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return run(cmd, vaultserver.MembersRequest{Op: "remove", ID: args[0]})
			},
		},
	)
	return members
}

func init() {
	var (
		configPath, listen, data, tlsCert, tlsKey string
		maxAttempts                               int
		nodeID, raftListen, raftAdvertise, peers  string
		clusterCA                                 string
		pkcs11Module, pkcs11Token, pkcs11PINFile  string
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
			var cfg vaultserver.ServerConfig
			if configPath != "" {
				if err := vaultserver.LoadServerConfigFile(configPath, &cfg); err != nil {
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
			if err := clusterFlags(cmd, &cfg, nodeID, raftListen, raftAdvertise, peers, clusterCA); err != nil {
				return err
			}
			if f.Changed("pkcs11-module") || f.Changed("pkcs11-token") || f.Changed("pkcs11-pin-file") {
				if pkcs11Module == "" || pkcs11Token == "" || pkcs11PINFile == "" {
					return usageErr(errors.New("an HSM needs all of --pkcs11-module, --pkcs11-token and --pkcs11-pin-file"))
				}
				pin, err := hsm.ReadPINFile(pkcs11PINFile)
				if err != nil {
					return usageErr(err)
				}
				mk, err := hsm.Open(hsm.Config{Module: pkcs11Module, TokenLabel: pkcs11Token, PIN: pin})
				if err != nil {
					return err
				}
				defer mk.Close()
				cfg.MasterKey = mk
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
			srv, err := vaultserver.NewServer(cfg)
			if err != nil {
				return err
			}
			out := cmd.ErrOrStderr()
			fmt.Fprintf(out, "chatsafe vault listening on https://%s\n", srv.Addr())
			if cfg.Cluster != nil {
				fmt.Fprintf(out, "cluster node %s; peers connect to it on %s\n", cfg.Cluster.NodeID, cfg.Cluster.RaftListen)
			}
			if cfg.TLSCert == "" {
				abs, _ := filepath.Abs(filepath.Join(cfg.DataDir, vaultserver.TLSCertFile))
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
	serve.Flags().IntVar(&maxAttempts, "max-attempts", vaultserver.DefaultMaxAttempts, "wrong passwords before a backup key is erased (the same on every cluster node)")
	serve.Flags().StringVar(&nodeID, "node-id", "", "run as this node of a Raft cluster (with --raft-listen, --cluster-ca, --peers)")
	serve.Flags().StringVar(&raftListen, "raft-listen", "", "cluster: address for raft and node-to-node RPC (host:port, mutual TLS)")
	serve.Flags().StringVar(&raftAdvertise, "raft-advertise", "", "cluster: address peers reach this node at (default: its --peers entry)")
	serve.Flags().StringVar(&peers, "peers", "", "cluster: bootstrap voters ID=host:port,... including this node (first start only); omit to join later with vault members add")
	serve.Flags().StringVar(&clusterCA, "cluster-ca", "", "cluster: PEM certificates a peer's certificate must chain to (a cluster CA, or every node's tls/cert.pem)")
	serve.Flags().StringVar(&pkcs11Module, "pkcs11-module", "", "keep the master key in a PKCS#11 token: the module (e.g. /usr/lib/softhsm/libsofthsm2.so)")
	serve.Flags().StringVar(&pkcs11Token, "pkcs11-token", "", "PKCS#11 token label")
	serve.Flags().StringVar(&pkcs11PINFile, "pkcs11-pin-file", "", "file holding the token's user PIN (mode 0600)")

	vaultCmd := &cobra.Command{
		Use:   "vault",
		Short: "Run the Backup Key Vault server",
		Args:  cobra.NoArgs,
	}
	vaultCmd.AddCommand(serve, membersCmd(), certCmd())
	rootCmd.AddCommand(vaultCmd)
}
