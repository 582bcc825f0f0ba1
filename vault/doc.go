// Package vault owns the Backup Key Vault: a server that keeps a backup key
// behind a password with OPAQUE (RFC 9807) without learning either, counts
// every login attempt durably before answering it, erases the key after too
// many wrong passwords, and a client for it.
//
// The pieces: wire.go (strict JSON messages), opaque.go (the OPAQUE server
// side, per-account OPRF keys, fake records for unknown accounts), fsm.go
// (the deterministic state machine every state change goes through, ready
// to be driven by a Raft log), store.go (its single-node bbolt storage),
// masterkey.go (sealing at rest), server.go (HTTPS, sessions, rate limits,
// audit log), client.go, and the replicated vault: cluster.go (a Raft node
// in front of the store, forwarding to the leader), raftfsm.go (the Raft
// FSM, snapshots), raftnet.go (raft and internal RPC over mutual TLS) and
// members.go (membership). Subpackage hsm keeps the master key in a PKCS#11
// token. docs/vault.md describes the protocol and the
// choices behind it.
package vault
