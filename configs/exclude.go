package configs

import (
	"path"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// Excluded reports whether relPath (slash-separated, relative to Source) is
// excluded by the Exclude globs. The rules, as in .gitignore:
//   - a pattern without "/" matches a name at any depth ("*.tmp", "cache");
//   - a pattern with "/" is matched against the whole relative path, with
//     doublestar syntax ("media/**/*.part", "**/thumbs");
//   - a trailing "/" matches directories only ("tmp/");
//   - a path inside an excluded directory is excluded too.
func (c *Config) Excluded(relPath string, isDir bool) bool {
	if len(c.Exclude) == 0 {
		return false
	}
	p := path.Clean(strings.TrimPrefix(relPath, "./"))
	if p == "." || p == "/" || strings.HasPrefix(p, "../") || p == ".." {
		return false
	}
	p = strings.TrimPrefix(p, "/")
	// Check every ancestor directory, then the path itself.
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		dir := i < len(p) || isDir
		if c.matchAny(p[:i], dir) {
			return true
		}
	}
	return false
}

func (c *Config) matchAny(p string, isDir bool) bool {
	base := path.Base(p)
	for _, pat := range c.Exclude {
		dirOnly := strings.HasSuffix(pat, "/")
		if dirOnly {
			if !isDir {
				continue
			}
			pat = strings.TrimSuffix(pat, "/")
		}
		subject := p
		if !strings.Contains(pat, "/") {
			subject = base
		}
		// Patterns were validated by Load; a bad one simply never matches.
		if ok, _ := doublestar.Match(pat, subject); ok {
			return true
		}
	}
	return false
}
