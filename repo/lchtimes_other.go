//go:build !unix

package repo

func lchtimes(string, int64) error { return nil }
