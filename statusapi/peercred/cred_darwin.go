package peercred

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// getCred reads the peer of a unix connection with LOCAL_PEERCRED (what
// getpeereid(3) uses; the credentials at connect time) and its pid with
// LOCAL_PEERPID.
func getCred(c net.Conn) (Cred, error) {
	var xc *unix.Xucred
	var pid int
	err := control(c, func(fd int) (err error) {
		if xc, err = unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED); err != nil {
			return err
		}
		pid, err = unix.GetsockoptInt(fd, unix.SOL_LOCAL, unix.LOCAL_PEERPID)
		return err
	})
	if err != nil {
		return Cred{}, fmt.Errorf("LOCAL_PEERCRED: %w", err)
	}
	cred := Cred{PID: int32(pid), UID: xc.Uid, Admin: xc.Uid == 0}
	if xc.Ngroups > 0 {
		cred.GID = xc.Groups[0]
	}
	return cred, nil
}
