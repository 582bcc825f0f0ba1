package peercred

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/windows"
)

// getCred names the client of a pipe connection: its process id from the
// pipe, then the account and groups of that process's token.
func getCred(c net.Conn) (Cred, error) {
	fc, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return Cred{}, fmt.Errorf("%T is not a named-pipe connection", c)
	}
	var pid uint32
	if err := windows.GetNamedPipeClientProcessId(windows.Handle(fc.Fd()), &pid); err != nil {
		return Cred{}, fmt.Errorf("GetNamedPipeClientProcessId: %w", err)
	}
	p, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return Cred{}, fmt.Errorf("opening client process %d: %w", pid, err)
	}
	defer windows.CloseHandle(p)
	var tok windows.Token
	if err := windows.OpenProcessToken(p, windows.TOKEN_QUERY, &tok); err != nil {
		return Cred{}, fmt.Errorf("reading client process %d's token: %w", pid, err)
	}
	defer tok.Close()
	cred, err := tokenCred(tok)
	if err != nil {
		return Cred{}, fmt.Errorf("client process %d: %w", pid, err)
	}
	cred.PID = int32(pid)
	return cred, nil
}

// tokenCred reads a token's account and whether it is SYSTEM or holds the
// Administrators group enabled (an elevated administrator; a filtered UAC
// token has it for deny only).
func tokenCred(tok windows.Token) (Cred, error) {
	tu, err := tok.GetTokenUser()
	if err != nil {
		return Cred{}, fmt.Errorf("token user: %w", err)
	}
	cred := Cred{SID: tu.User.Sid.String()}
	system, err := windows.CreateWellKnownSid(windows.WinLocalSystemSid)
	if err != nil {
		return Cred{}, err
	}
	if tu.User.Sid.Equals(system) {
		cred.Admin = true
		return cred, nil
	}
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		return Cred{}, err
	}
	groups, err := tok.GetTokenGroups()
	if err != nil {
		return Cred{}, fmt.Errorf("token groups: %w", err)
	}
	for _, g := range groups.AllGroups() {
		if g.Attributes&windows.SE_GROUP_ENABLED != 0 && g.Sid.Equals(admins) {
			cred.Admin = true
		}
	}
	return cred, nil
}

// self is this process's identity; SID is empty if the token cannot be
// read, which makes Listen fail.
func self() Cred {
	c, err := tokenCred(windows.GetCurrentProcessToken())
	if err != nil {
		return Cred{PID: int32(os.Getpid())}
	}
	c.PID = int32(os.Getpid())
	return c
}
