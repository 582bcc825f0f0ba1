//go:build !windows

package logs

import "fmt"

func openSystemEventLog(source string) (eventSink, error) {
	return nil, fmt.Errorf("logging to the Event Log as %q: there is an Event Log only on Windows", source)
}
