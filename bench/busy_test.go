package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"
)

func TestBusySleptFollowsSQLitesSchedule(t *testing.T) {
	for _, c := range []struct {
		retries int
		timeout time.Duration
		want    time.Duration
	}{
		{0, 5 * time.Second, 0},
		{1, 5 * time.Second, time.Millisecond},
		{2, 5 * time.Second, 3 * time.Millisecond},
		{3, 5 * time.Second, 8 * time.Millisecond},
		{4, 5 * time.Second, 18 * time.Millisecond},
		{13, 5 * time.Second, 428 * time.Millisecond},
		{5, 30 * time.Millisecond, 30 * time.Millisecond},
		{retriesGaveUp, 40 * time.Millisecond, 40 * time.Millisecond},
	} {
		if got := busySlept(c.retries, c.timeout); got != c.want {
			t.Errorf("busySlept(%d, %s) = %s, want %s", c.retries, c.timeout, got, c.want)
		}
	}
}

// A TRUNCATE checkpoint that a reader holding the log's frames blocks
// sleeps in the app's busy handler until its timeout, and the count says
// so; with the reader gone it does not retry.
func TestCheckpointCountsTheBusyHandlersRetries(t *testing.T) {
	ctx := context.Background()
	c, err := Generate(ctx, filepath.Join(t.TempDir(), "chats"), tinySpec)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Writer.Close()
	if err := c.Writer.AddMessage(ctx); err != nil {
		t.Fatal(err)
	}
	reader, err := sql.Open("sqlite", "file:"+c.DBPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	tx, err := reader.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM messages`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Writer.db.ExecContext(ctx, `PRAGMA busy_timeout = 40`); err != nil {
		t.Fatal(err)
	}
	got, err := c.Writer.CheckpointMode(ctx, "TRUNCATE")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Busy || got.Retries != retriesGaveUp || got.Blocked != 40*time.Millisecond || got.Took < got.Blocked {
		t.Errorf("blocked by a reader: %+v, want busy, retries retriesGaveUp (-1), blocked 40ms, took at least that", got)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	got, err = c.Writer.CheckpointMode(ctx, "TRUNCATE")
	if err != nil {
		t.Fatal(err)
	}
	if got.Busy || got.Retries != 0 || got.Blocked != 0 {
		t.Errorf("no reader: %+v, want no retries", got)
	}
}
