package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Generated certificate files, relative to the data directory.
const (
	TLSCertFile = "tls/cert.pem"
	tlsKeyFile  = "tls/key.pem"
)

// EnsureCertificate makes the self-signed certificate of a node (for the
// listen host) in DataDir/tls if there is none yet, and returns its path:
// cluster nodes need each other's certificates (--cluster-ca) before they
// first start.
func EnsureCertificate(listen, dataDir string) (string, error) {
	if _, err := loadOrCreateCert(ServerConfig{Listen: listen, DataDir: dataDir}); err != nil {
		return "", err
	}
	return filepath.Join(dataDir, TLSCertFile), nil
}

// loadOrCreateCert loads the configured certificate, or the generated one
// in DataDir/tls, creating it on first start.
func loadOrCreateCert(cfg ServerConfig) (tls.Certificate, error) {
	if cfg.TLSCert != "" {
		c, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return c, fmt.Errorf("vault: loading TLS certificate %s and key %s: %w", cfg.TLSCert, cfg.TLSKey, err)
		}
		return c, nil
	}
	certPath := filepath.Join(cfg.DataDir, TLSCertFile)
	keyPath := filepath.Join(cfg.DataDir, tlsKeyFile)
	c, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return c, fmt.Errorf("vault: loading the generated TLS certificate %s: %w (delete %s to make a new one, then give clients the new file)", certPath, err, filepath.Dir(certPath))
	}
	if err := writeSelfSigned(cfg.Listen, certPath, keyPath); err != nil {
		return tls.Certificate{}, fmt.Errorf("vault: making a self-signed TLS certificate: %w", err)
	}
	c, err = tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return c, fmt.Errorf("vault: loading the generated TLS certificate: %w", err)
	}
	return c, nil
}

// selfSignedHosts lists the names the generated certificate is valid for:
// the listen host, or every local name when listening on all interfaces.
func selfSignedHosts(listen string) (dns []string, ips []net.IP) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = listen
	}
	ip := net.ParseIP(host)
	switch {
	case host == "" || (ip != nil && ip.IsUnspecified()):
		dns = append(dns, "localhost")
		if hn, err := os.Hostname(); err == nil && hn != "" {
			dns = append(dns, hn)
		}
		ips = append(ips, net.IPv4(127, 0, 0, 1), net.IPv6loopback)
	case ip != nil:
		ips = append(ips, ip)
	default:
		dns = append(dns, host)
	}
	return dns, ips
}

func writeSelfSigned(listen, certPath, keyPath string) error {
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	dns, ips := selfSignedHosts(listen)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "chatsafe vault", Organization: []string{"chatsafe"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		// serverAuth for clients and peers, clientAuth for the nodes'
		// mutual TLS between each other.
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so clients can pin it as their only root
		DNSNames:              dns,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	// Key first: a certificate without its key would block the next start.
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename in dir durable: without it a crash can bring
// back the old file after the new one was reported written.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
