// Package cputime reads the CPU time this process has used (user plus
// system), for benchmarks that report CPU per operation.
package cputime
