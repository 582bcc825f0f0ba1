package daemon

import (
	"sync"

	"go.uber.org/zap"
)

// errLog logs a repeated identical error once: only a new message, and
// the recovery, are logged again.
type errLog struct {
	log  *zap.Logger
	mu   sync.Mutex
	last map[string]string // what -> last error message
}

func (e *errLog) failed(what, msg string, err error, fields ...zap.Field) {
	e.mu.Lock()
	same := e.last[what] == err.Error()
	e.last[what] = err.Error()
	e.mu.Unlock()
	if same {
		e.log.Debug(msg+" (again)", append(fields, zap.Error(err))...)
		return
	}
	e.log.Error(msg, append(fields, zap.Error(err))...)
}

func (e *errLog) ok(what, msg string, fields ...zap.Field) {
	e.mu.Lock()
	_, was := e.last[what]
	delete(e.last, what)
	e.mu.Unlock()
	if was {
		e.log.Info(msg, fields...)
	}
}
