// Package store owns the encrypted delta repository on a remote and is the
// only package that knows its format (docs/format.md accounts for every
// byte): the config object and its key check, keyed blob ids, the entry
// kinds, trees, contents, chunk lists and patches, delta objects (new
// blobs plus a sealed trailer) and how they are written (Writer), the
// index, the head and chain verification, range reads, the local state
// (spool, cached trailers, newest sequence seen, the state lock), and the
// one path that moves deltas to the remotes (Sync, SyncTarget).
//
// The packages above it each see a narrow part of its API: backup writes
// through a Writer, restore reads trees and blobs, check walks and
// verifies, prune compacts and deletes.
//
// Objects on a remote:
//
//	config                           repository id, key check, sealed parameters
//	deltas/<seq:016x>-<id:32 hex>    one backup cycle: sealed blobs, sealed trailer, footer
//
// The delta with the highest sequence number is the head. Its trailer lists
// every other live delta with the hash of its trailer, so the head alone says
// exactly what the repository holds; a delta that is missing, altered, from
// another repository or replayed under another name is detected, and a
// remote that serves an older head than this device last saw is reported as
// a rollback.
package store
