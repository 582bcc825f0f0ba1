//go:build unix

package client

import (
	"net"

	"github.com/chatsafe/chatsafe/statusapi/peercred"
)

// serverPID is the pid of the process that listens on a connection's
// socket (SO_PEERCRED, LOCAL_PEERPID); 0 when the system does not say.
func serverPID(c net.Conn) int32 {
	cred, err := peercred.Get(c)
	if err != nil {
		return 0
	}
	return cred.PID
}
