package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

// serverConfigFile is the YAML form of ServerConfig for `chatsafe vault
// serve --config F`. Unknown keys are errors.
type serverConfigFile struct {
	Listen       string   `yaml:"listen"`
	Data         string   `yaml:"data"`
	TLSCert      string   `yaml:"tls_cert"`
	TLSKey       string   `yaml:"tls_key"`
	MaxAttempts  int      `yaml:"max_attempts"`
	SessionTTL   string   `yaml:"session_ttl"`
	MaxSessions  int      `yaml:"max_sessions"`
	AddressRate  *float64 `yaml:"address_rate"`
	AddressBurst int      `yaml:"address_burst"`
	AccountRate  *float64 `yaml:"account_rate"`
	AccountBurst int      `yaml:"account_burst"`
	HeadRate     *float64 `yaml:"head_rate"`
	HeadBurst    int      `yaml:"head_burst"`
	FailureDelay string   `yaml:"failure_delay"` // e.g. 1s; "off" disables
	MaxPerPrefix int      `yaml:"max_sessions_per_prefix"`
	GhostTTL     string   `yaml:"ghost_ttl"`

	// Cluster (see ClusterConfig); node_id turns it on.
	NodeID        string `yaml:"node_id"`
	RaftListen    string `yaml:"raft_listen"`
	RaftAdvertise string `yaml:"raft_advertise"`
	Peers         string `yaml:"peers"` // 1=host:port,2=host:port,...
	ClusterCA     string `yaml:"cluster_ca"`
}

// LoadServerConfigFile reads a vault server config file (YAML) into cfg;
// keys that are absent leave cfg unchanged. Example:
//
//	listen: vault.example.org:8443
//	data: /var/lib/chatsafe-vault
//	max_attempts: 10
//	account_rate: 0.1   # per second; negative disables
//	head_rate: 1        # per second, per account and owner token
func LoadServerConfigFile(path string, cfg *ServerConfig) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading vault config: %w", err)
	}
	var f serverConfigFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("vault config %s: %w", path, err)
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Listen, f.Listen)
	set(&cfg.DataDir, f.Data)
	set(&cfg.TLSCert, f.TLSCert)
	set(&cfg.TLSKey, f.TLSKey)
	if f.MaxAttempts != 0 {
		if f.MaxAttempts < 1 {
			return fmt.Errorf("vault config %s: max_attempts must be at least 1", path)
		}
		cfg.MaxAttempts = f.MaxAttempts
	}
	if f.SessionTTL != "" {
		d, err := time.ParseDuration(f.SessionTTL)
		if err != nil || d <= 0 {
			return fmt.Errorf("vault config %s: session_ttl %q is not a positive duration like 30s", path, f.SessionTTL)
		}
		cfg.SessionTTL = d
	}
	if f.FailureDelay != "" {
		d, err := time.ParseDuration(f.FailureDelay)
		switch {
		case f.FailureDelay == "off":
			cfg.FailureDelay = -1
		case err != nil || d <= 0:
			return fmt.Errorf("vault config %s: failure_delay %q is not a positive duration like 1s (or off)", path, f.FailureDelay)
		default:
			cfg.FailureDelay = d
		}
	}
	if f.GhostTTL != "" {
		d, err := time.ParseDuration(f.GhostTTL)
		if err != nil || d <= 0 {
			return fmt.Errorf("vault config %s: ghost_ttl %q is not a positive duration like 720h", path, f.GhostTTL)
		}
		cfg.GhostTTL = d
	}
	if f.MaxPerPrefix != 0 {
		cfg.MaxSessionsPerPrefix = f.MaxPerPrefix
	}
	if err := f.limits(cfg); err != nil {
		return fmt.Errorf("vault config %s: %w", path, err)
	}
	if f.NodeID == "" {
		if f.RaftListen != "" || f.Peers != "" || f.ClusterCA != "" || f.RaftAdvertise != "" {
			return fmt.Errorf("vault config %s: raft_listen, raft_advertise, peers and cluster_ca need node_id", path)
		}
		return nil
	}
	peers, err := ParsePeers(f.Peers)
	if err != nil {
		return fmt.Errorf("vault config %s: peers: %w", path, err)
	}
	cfg.Cluster = &ClusterConfig{NodeID: f.NodeID, RaftListen: f.RaftListen, RaftAdvertise: f.RaftAdvertise, Peers: peers, CAFile: f.ClusterCA}
	return nil
}

// limits sets the session and rate limits the file gives.
func (f *serverConfigFile) limits(cfg *ServerConfig) error {
	if f.MaxSessions < 0 || f.AddressBurst < 0 || f.AccountBurst < 0 || f.HeadBurst < 0 {
		return errors.New("max_sessions, address_burst, account_burst and head_burst must not be negative")
	}
	if f.MaxSessions != 0 {
		cfg.MaxSessions = f.MaxSessions
	}
	for name, v := range map[string]*float64{"address_rate": f.AddressRate, "account_rate": f.AccountRate, "head_rate": f.HeadRate} {
		if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
			// NaN lets every request through and never frees a bucket.
			return fmt.Errorf("%s must be a finite number of requests a second (negative disables)", name)
		}
	}
	rate := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	burst := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	rate(&cfg.AddressRate, f.AddressRate)
	burst(&cfg.AddressBurst, f.AddressBurst)
	rate(&cfg.AccountRate, f.AccountRate)
	burst(&cfg.AccountBurst, f.AccountBurst)
	rate(&cfg.HeadRate, f.HeadRate)
	burst(&cfg.HeadBurst, f.HeadBurst)
	return nil
}
