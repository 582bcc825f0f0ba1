package service

import (
	"fmt"
	"io"
	"slices"
)

// scmStop is how the daemon's end is reported to Windows' service control
// manager. The service's recovery action (restart after 30 s) runs only
// after a failure, which by default is a process that ends without
// reporting SERVICE_STOPPED; a reported stop, whatever its exit code, is
// final. So a final exit code is reported (and shows in `sc query
// chatsafe` as SERVICE_EXIT_CODE), and any other failure ends the process
// unreported, for the manager to restart it.
type scmStop struct {
	report bool   // report SERVICE_STOPPED; false: exit the process without
	code   uint32 // the service-specific exit code reported, or the process's exit code
}

func scmOutcome(code int, final []int) scmStop {
	switch {
	case code == 0:
		return scmStop{report: true}
	case slices.Contains(final, code):
		return scmStop{report: true, code: uint32(code)}
	}
	return scmStop{code: uint32(code)}
}

// scmEnd decides how the daemon's end (run's error) is reported to the
// service control manager, and writes the error to report first: a
// service's stderr goes nowhere, and an unreported end exits the process
// at once, before the command line could print it.
func scmEnd(err error, exitCode func(error) int, final []int, report io.Writer) scmStop {
	if err == nil {
		return scmOutcome(0, final)
	}
	code := exitCode(err)
	out := scmOutcome(code, final)
	if out.report {
		fmt.Fprintf(report, "chatsafe: %v\nchatsafe: stopping for good (exit code %d): restarting cannot fix this; fix it, then start the service again\n", err, code)
	} else {
		fmt.Fprintf(report, "chatsafe: %v\nchatsafe: exiting with code %d; the service control manager restarts the service in 30 s\n", err, code)
	}
	return out
}
