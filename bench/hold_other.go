//go:build !linux

package main

// holdInCache reads the inputs into the page cache; keeping them there
// (hold_linux.go) is Linux's.
func holdInCache(skip func(path string) bool, roots ...string) (release func(), err error) {
	return func() {}, readIntoCache(skip, roots...)
}
