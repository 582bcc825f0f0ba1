// Package server is the Backup Key Vault's server: it keeps a backup key
// behind a password with OPAQUE (RFC 9807) without learning either, counts
// every login attempt durably before answering it, and erases the key
// after too many wrong passwords.
//
// The pieces: opaque.go (the OPAQUE server side, per-account OPRF keys,
// fake records for unknown accounts), fsm.go (the deterministic state
// machine every state change goes through), store.go (its bbolt storage),
// masterkey.go (sealing at rest), server.go and handlers.go (HTTPS,
// sessions, rate limits, audit log), and the replicated vault: cluster.go
// (a Raft node in front of the store, forwarding to the leader),
// raftfsm.go (the Raft FSM, snapshots), raftnet.go (raft and internal RPC
// over mutual TLS) and members.go (membership). The threshold OPRF:
// toprf.go (each node's share key, its evaluation, fake shares for unknown
// accounts), handlers_toprf.go (login/begin, login/ke1) and toprf_peers.go
// (evaluations for committed attempts only, asked of peers over the
// internal RPC or by a client with login/eval).
package server
