package main

import (
	"database/sql"
	"errors"
	"reflect"
	"time"
	"unsafe"

	sqlite3 "modernc.org/sqlite/lib"
)

// The retry schedule of SQLite's default busy handler
// (sqliteDefaultBusyCallback), which modernc.org/sqlite keeps in its own:
// the sleep before each retry, in ms; past the table, the last entry.
var busySleeps = [...]int{1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100}

// busySlept is how long SQLite's busy handler slept before its
// retries-th retry, with the connection's busy timeout: the time a
// statement spent blocked on another connection's lock. retriesGaveUp is
// the whole timeout.
func busySlept(retries int, timeout time.Duration) time.Duration {
	if retries == retriesGaveUp {
		return timeout
	}
	var ms int
	for i := range retries {
		ms += busySleeps[min(i, len(busySleeps)-1)]
	}
	return min(time.Duration(ms)*time.Millisecond, timeout)
}

var errNoBusyCount = errors.New("the sqlite driver's connection has no handle to read the busy count from")

// busyRetries returns how many times SQLite's busy handler ran during
// the last statement on conn, and the connection's busy timeout (sqlite3.busyHandler.nBusy, which each
// statement's execution sets to 0 and each retry counts up; -1 if the
// handler gave up). It reads the count only: the app's busy handler,
// and so how it waits for the daemon, stays the driver's. The driver
// keeps the handle unexported, hence the reflection; if a later driver
// renames it, the error says the figure was not measured.
func busyRetries(conn *sql.Conn) (int, time.Duration, error) {
	n, timeout := 0, time.Duration(0)
	err := conn.Raw(func(dc any) error {
		v := reflect.ValueOf(dc)
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			return errNoBusyCount
		}
		f := v.Elem().FieldByName("db")
		if !f.IsValid() || f.Kind() != reflect.Uintptr {
			return errNoBusyCount
		}
		// The field is a C pointer kept as a uintptr, to memory the
		// driver's libc allocated (not Go's heap).
		db := *(**sqlite3.Tsqlite3)(unsafe.Pointer(f.UnsafeAddr()))
		if db == nil {
			return errNoBusyCount
		}
		n, timeout = int(db.FbusyHandler.FnBusy), time.Duration(db.FbusyTimeout)*time.Millisecond
		return nil
	})
	return n, timeout, err
}
