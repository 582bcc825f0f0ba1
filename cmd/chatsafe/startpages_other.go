//go:build !linux

package main

// dropStartPages does nothing here: the executable's pages are left as
// they are (startpages_linux.go).
func dropStartPages() {}
