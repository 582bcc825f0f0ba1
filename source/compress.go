package source

import (
	"path"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// incompressibleExt lists extensions of formats that are already compressed.
var incompressibleExt = map[string]bool{
	".jpg": true, ".jpeg": true, ".png": true, ".webp": true, ".gif": true,
	".heic": true, ".heif": true, ".avif": true, ".jxl": true,
	".mp4": true, ".m4v": true, ".mov": true, ".webm": true, ".mkv": true, ".3gp": true,
	".m4a": true, ".opus": true, ".ogg": true, ".oga": true, ".mp3": true, ".aac": true,
	".flac": true, ".amr": true,
	".zip": true, ".gz": true, ".tgz": true, ".zst": true, ".7z": true, ".xz": true,
	".bz2": true, ".rar": true, ".br": true, ".lz4": true, ".pdf": true,
}

// incompressibleMIME lists detected types (or their parents) that are
// already compressed; zip covers docx/xlsx/apk/jar, which are zip containers.
var incompressibleMIME = map[string]bool{
	"image/jpeg": true, "image/png": true, "image/webp": true, "image/gif": true,
	"image/heic": true, "image/heif": true, "image/avif": true, "image/jxl": true,
	"video/mp4": true, "video/quicktime": true, "video/webm": true, "video/x-matroska": true,
	"video/3gpp": true, "video/3gpp2": true, "video/x-m4v": true,
	"audio/mp4": true, "audio/x-m4a": true, "audio/ogg": true, "audio/opus": true, "audio/mpeg": true,
	"audio/aac": true, "audio/flac": true, "audio/amr": true, "application/ogg": true,
	"application/zip": true, "application/gzip": true, "application/zstd": true,
	"application/x-7z-compressed": true, "application/x-xz": true, "application/x-bzip2": true,
	"application/x-rar-compressed": true, "application/pdf": true,
}

// isIncompressible reports whether a file named name, starting with header,
// is already compressed.
func isIncompressible(name string, header []byte) bool {
	if incompressibleExt[strings.ToLower(path.Ext(name))] {
		return true
	}
	if len(header) == 0 {
		return false
	}
	for m := mimetype.Detect(header); m != nil; m = m.Parent() {
		t, _, _ := strings.Cut(m.String(), ";")
		if incompressibleMIME[t] {
			return true
		}
	}
	return false
}
