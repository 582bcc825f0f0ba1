package daemon_test

import (
	"testing"

	"github.com/chatsafe/chatsafe/daemon"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusapi/client"
)

// BenchmarkStatusRequest is one GET /v1/status over the socket of an idle
// daemon with a few snapshots: what a status page or a polling script
// costs the daemon per request.
func BenchmarkStatusRequest(b *testing.B) {
	in := newInstall(b, 1)
	chat := openChat(b, in.src)
	chat.write(b, 100)
	d := runInProcess(b, in, daemon.Options{})
	waitFor(b, d, "the first snapshot", func(st statusapi.Status) bool { return st.LastSnapshot != nil && idle(st) })
	c := client.New(in.sock)
	defer c.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Status(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
