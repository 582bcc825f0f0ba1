package source

import (
	"io/fs"
	"syscall"
)

func fillSys(id *statID, fi fs.FileInfo) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.CtimeNs = st.Ctimespec.Nano()
		id.Ino = st.Ino
		id.Dev = uint64(st.Dev)
	}
}
