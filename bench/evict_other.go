//go:build !linux

package main

// evictFromPageCache is Linux's concern only (large folios in the page
// cache); elsewhere an executable is measured as it is.
func evictFromPageCache(string) error { return nil }
