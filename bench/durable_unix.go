//go:build unix

package main

func fsyncDir(path string) error { return fsyncPath(path) }
