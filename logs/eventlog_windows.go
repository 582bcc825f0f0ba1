package logs

import (
	"fmt"

	"golang.org/x/sys/windows/svc/eventlog"
)

func openSystemEventLog(source string) (eventSink, error) {
	l, err := eventlog.Open(source)
	if err != nil {
		return nil, fmt.Errorf("opening the Windows Event Log as %q (reinstall the service to register the source: chatsafe service install): %w", source, err)
	}
	return l, nil
}
