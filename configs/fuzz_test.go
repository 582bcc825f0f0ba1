package configs

import (
	"errors"
	"os"
	"testing"
)

// FuzzLoadConfig feeds arbitrary bytes to the config loader. It must never
// panic; what it rejects is an ErrConfig with a message; what it accepts
// renders to a file that loads back to the same config (the render of
// the reloaded config is the same bytes).
func FuzzLoadConfig(f *testing.F) {
	if b, err := os.ReadFile("chatsafe.example.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("source: /chats\n"))
	f.Add([]byte("source: /chats\nremotes:\n  - name: a\n    url: /r\n    bwlimit: 1M\nretention:\n  keep_last: 3\nprune:\n  every: 1h\n  max_upload: 10M\n"))
	f.Add([]byte("source: $HOME/x\nstate_dir: ~/s\nsync:\n  quiet_period: 2s\n  max_delay: 1m\n"))
	f.Add([]byte("source: [1, 2]\n"))
	f.Add([]byte("a: &x 1\nb: *x\n"))
	f.Add([]byte("---\nsource: /a\n---\nsource: /b\n"))
	const name = "/etc/chatsafe/config.yaml"
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(name, data)
		if err != nil {
			if !errors.Is(err, ErrConfig) || err.Error() == "" {
				t.Fatalf("rejected with an error that is not a config error: %#v", err)
			}
			return
		}
		out, err := c.Render()
		if err != nil {
			t.Fatalf("accepted config does not render: %v", err)
		}
		c2, err := Parse(name, out)
		if err != nil {
			t.Fatalf("rendered config does not load back: %v\ninput:\n%s\nrendered:\n%s", err, data, out)
		}
		out2, err := c2.Render()
		if err != nil {
			t.Fatalf("reloaded config does not render: %v", err)
		}
		if string(out) != string(out2) {
			t.Fatalf("render, load, render is not stable\ninput:\n%s\nfirst:\n%s\nsecond:\n%s", data, out, out2)
		}
	})
}
