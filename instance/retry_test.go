package instance

import (
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/remotes"
)

// TestRunRetry: a run's time budget (--retry-for) holds over the config's
// retry_for; without one (0, or a negative flag) the config's does; the
// config is left as it is.
func TestRunRetry(t *testing.T) {
	for _, c := range []struct{ run, file, want time.Duration }{
		{time.Second, 90 * time.Second, time.Second},
		{0, 90 * time.Second, 90 * time.Second},
		{-time.Second, 90 * time.Second, 90 * time.Second},
		{0, 0, 0}, // no time cap: the attempts alone decide
	} {
		cfg := &configs.Config{RetryFor: configs.Duration(c.file)}
		got := runRetry(cfg, remotes.RetryOptions{Budget: c.run, Attempts: 3})
		if got.Budget != c.want || got.Attempts != 3 {
			t.Errorf("run %v, config %v: budget %v, attempts %d; want %v, 3", c.run, c.file, got.Budget, got.Attempts, c.want)
		}
		if time.Duration(cfg.RetryFor) != c.file {
			t.Errorf("run %v: the config's retry_for became %v", c.run, cfg.RetryFor)
		}
	}
}
