//go:build !unix

package store

func lchtimes(string, int64) error { return nil }
