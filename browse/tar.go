package browse

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/chatsafe/chatsafe/store"
)

// Tar writes the directory n and everything below it to w as a tar
// stream; names are relative to n. Each file is read a window at a time.
func Tar(ctx context.Context, r Reader, n *store.Node, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := Walk(ctx, r, "", n, func(p string, e *store.Node) error {
		if p == "" {
			return nil
		}
		h := &tar.Header{Name: p, Mode: int64(e.Mode.Perm()), ModTime: time.Unix(0, e.ModTime), Format: tar.FormatPAX}
		switch e.Kind {
		case store.KindDir:
			h.Typeflag, h.Name = tar.TypeDir, p+"/"
		case store.KindSymlink:
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.Target
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(e.Size)
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("writing the tar stream: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := Open(ctx, r, e)
		if err != nil {
			return err
		}
		_, err = f.WriteTo(ctx, tw)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
