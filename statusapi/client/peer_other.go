//go:build !unix

package client

import "net"

// serverPID is 0 (not known): peercred names a named pipe's client, not
// its server.
func serverPID(net.Conn) int32 { return 0 }
