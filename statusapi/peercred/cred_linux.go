package peercred

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// getCred reads the peer of a unix connection with SO_PEERCRED: the
// credentials the kernel recorded when the peer connected.
func getCred(c net.Conn) (Cred, error) {
	var uc *unix.Ucred
	err := control(c, func(fd int) (err error) {
		uc, err = unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		return err
	})
	if err != nil {
		return Cred{}, fmt.Errorf("SO_PEERCRED: %w", err)
	}
	return Cred{PID: uc.Pid, UID: uc.Uid, GID: uc.Gid, Admin: uc.Uid == 0}, nil
}
