// Package source owns the consistent reading of the chat-history directory.
//
// A Scanner walks the directory once per backup cycle and hands every entry to a
// Visitor in a fixed order (names sorted, depth first, directories after their
// children). SQLite databases, recognised by their header rather than their name,
// are read page by page from the sqlite_dbpage virtual table inside one read
// transaction on a read-only connection, so the pages always form the database as
// of one commit even while the messaging app keeps writing; their -wal, -shm and
// -journal companions are never handed out. Files already compressed (media,
// by name or header) are cut every 2 MiB from their start (MediaChunk; a
// consumer may read them into buffers of its own, FixedContent); the rest
// into content-defined chunks (FastCDC from github.com/PlakarKorp/go-cdc-chunkers,
// 16 KiB / 64 KiB / 256 KiB). Both are re-checked after reading, so a file that
// changed while it was read is retried and never delivered torn.
//
// A FileCache remembers each file's stat identity and the token the consumer
// returned for it, so an unchanged file costs one lstat and no read.
package source
