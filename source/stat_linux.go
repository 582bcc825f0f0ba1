package source

import (
	"io/fs"
	"syscall"
)

func fillSys(id *statID, fi fs.FileInfo) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.CtimeNs = st.Ctim.Nano()
		id.Ino = st.Ino
		id.Dev = uint64(st.Dev) //nolint:unconvert // Dev's width differs between architectures
	}
}
