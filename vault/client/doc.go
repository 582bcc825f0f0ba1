// Package client talks to a Backup Key Vault: it registers a backup key
// behind a password and recovers it with OPAQUE (RFC 9807) run on the
// password hardened by the nodes' threshold OPRF (toprf.go), failing over
// between a cluster's nodes. It links neither raft nor bbolt.
package client
