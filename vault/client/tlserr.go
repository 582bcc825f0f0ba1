package client

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// certificateHint says what to change when the TLS certificate of the
// vault at rawURL was refused with err; ok false when err is not about the
// certificate. caFile is the pinned certificate file ("" for the system's
// roots).
func certificateHint(err error, rawURL, caFile string) (hint string, ok bool) {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		if caFile == "" {
			return "the vault's certificate is not signed by an authority this system trusts (a certificate the vault made itself never is): pass --vault-ca FILE with the vault's certificate, its data directory's tls/cert.pem (key.vault.ca_file in the config)", true
		}
		return fmt.Sprintf("the vault's certificate is not the one pinned in %s (--vault-ca, key.vault.ca_file): give the vault's current tls/cert.pem, or every node's certificate for a cluster (`chatsafe vault cert` prints it)", caFile), true
	case errors.As(err, &host):
		names := certificateNames(host.Certificate)
		if len(names) == 0 {
			return "the vault's certificate names no host: give the vault a certificate for the host in --vault (key.vault.url)", true
		}
		return fmt.Sprintf("the vault's certificate is for %s, not %s: use a name it is for in --vault (key.vault.url), or give the vault a certificate for %s", strings.Join(names, ", "), host.Host, host.Host), true
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			c := invalid.Cert
			return fmt.Sprintf("the vault's certificate is valid from %s to %s, and this machine's clock says %s: renew the vault's certificate (or set this machine's clock)",
				c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339)), true
		}
		return fmt.Sprintf("the vault's certificate cannot be used (%v): check --vault-ca and the certificate the vault at %s serves", invalid, hostOf(rawURL)), true
	}
	return "", false
}

// certificateNames are the names and addresses a certificate is valid for.
func certificateNames(c *x509.Certificate) []string {
	if c == nil {
		return nil
	}
	names := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	if h, _, err := net.SplitHostPort(u.Host); err == nil {
		return h
	}
	return u.Host
}
