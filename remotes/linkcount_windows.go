package remotes

import (
	"os"

	"golang.org/x/sys/windows"
)

// linkCount is the number of hard links to f's file (os.FileInfo on
// Windows does not carry it).
func linkCount(f *os.File) (uint64, bool) {
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(windows.Handle(f.Fd()), &info); err != nil {
		return 0, false
	}
	return uint64(info.NumberOfLinks), true
}
