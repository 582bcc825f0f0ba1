// Package vault holds what the Backup Key Vault's client and server share:
// the wire protocol (strict JSON messages, error codes), the client-facing
// errors, the OPAQUE configuration, the owner token, and the threshold OPRF
// that hardens the password before OPAQUE (toprf.go: blinding, Shamir
// shares sealed to each node, Lagrange combination).
//
// The rest is split so that a vault client links neither raft nor bbolt
// (TestClientLinksNoServer pins it):
//
//   - vault/client: the Client (registration, recovery, deletion, the
//     client side of OPAQUE and the wrapping of the backup key).
//   - vault/server: the HTTPS server (sessions, rate limits, audit log),
//     the OPAQUE server side, the deterministic state machine and its bbolt
//     store, the Raft cluster (FSM, snapshots, mutual-TLS transport,
//     membership) and the master key.
//   - vault/hsm: the master key in a PKCS#11 token.
//
// docs/vault.md describes the protocol and the choices behind it.
package vault
