// Package store owns the encrypted delta repository on a remote: keyed blob
// ids, delta objects (new blobs plus a sealed trailer), the snapshot chain,
// the local spool of deltas waiting for upload, restore and check.
//
// It is the only package that knows the on-remote layout; docs/format.md
// accounts for every byte of it.
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
