package configs

import (
	"fmt"
	"strings"
)

// Error is one problem in a config file. It wraps ErrConfig.
type Error struct {
	File string // path of the config file as given
	Line int    // 1-based; 0 when the problem is a missing key
	Key  string // dotted key, e.g. "sync.quiet_period"; "" for syntax errors
	Msg  string // what is wrong and what is allowed
}

// Error formats as "file:line: msg" (or "file: msg" without a line), one line.
func (e *Error) Error() string {
	msg := strings.ReplaceAll(e.Msg, "\n", " ")
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, msg)
	}
	return fmt.Sprintf("%s: %s", e.File, msg)
}

// Unwrap makes errors.Is(err, ErrConfig) true.
func (e *Error) Unwrap() error { return ErrConfig }
