package cmdline

import (
	"path/filepath"
	"testing"
)

func TestCmd(t *testing.T) {
	dir := t.TempDir()
	def := filepath.Join(dir, "config.yaml")
	other := filepath.Join(dir, "cs2", "chatsafe.yaml")
	spaced := filepath.Join(dir, "my chats", "it's.yaml")
	for _, c := range []struct {
		in   Installation
		want string
	}{
		{Installation{Config: "", Default: def}, "`chatsafe takeover`"},
		{Installation{Config: def, Default: def}, "`chatsafe takeover`"},
		{Installation{Config: dir + "/./config.yaml", Default: def}, "`chatsafe takeover`"},
		{Installation{Config: other, Default: def}, "`chatsafe takeover --config " + other + "`"},
		{Installation{Config: other, Default: ""}, "`chatsafe takeover --config " + other + "`"},
		{Installation{Config: spaced, Default: def}, "`chatsafe takeover --config '" + filepath.Join(dir, "my chats", `it'\''s.yaml`) + "'`"},
	} {
		if got := c.in.Cmd("takeover"); got != c.want {
			t.Errorf("%+v: %s, want %s", c.in, got, c.want)
		}
	}
	t.Chdir(dir)
	if got := (Installation{Config: "cs2/chatsafe.yaml", Default: def}).Line("key import"); got != "chatsafe key import --config "+other {
		t.Errorf("relative config: %s", got)
	}
}
