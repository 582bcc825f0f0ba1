//go:build !linux

package main

// spreadNewDirs is Linux's concern only (ext4's inode allocator,
// spread_linux.go); elsewhere nothing is marked.
func spreadNewDirs(string) error { return nil }
