package service

import (
	"context"
	"io"
	"os"

	"golang.org/x/sys/windows/svc"
)

// EventLogSource is the Event Log source the daemon logs its warnings and
// errors under when the service control manager started it (`chatsafe
// service install` registers it), "" in a console.
func EventLogSource() string {
	if isService, err := svc.IsWindowsService(); err == nil && isService {
		return Name
	}
	return ""
}

// runService runs the daemon under the service control manager when it
// started the process (a console run is a plain run): Stop and Shutdown
// cancel the daemon's context, and its end is reported as scmOutcome says.
func runService(ctx context.Context, run func(context.Context) error, exitCode func(error) int, report io.Writer) error {
	isService, err := svc.IsWindowsService()
	if err != nil || !isService {
		return finalError(run(ctx), exitCode, report)
	}
	h := &scmHandler{ctx: ctx, run: run, exitCode: exitCode, report: report}
	if err := svc.Run(Name, h); err != nil {
		return err
	}
	return h.err
}

type scmHandler struct {
	ctx      context.Context
	run      func(context.Context) error
	exitCode func(error) int
	report   io.Writer // the daemon's log
	err      error     // run's error, once Execute returns
}

func (h *scmHandler) Execute(_ []string, reqs <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.run(ctx) }()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case err := <-done:
			h.err = err
			out := scmEnd(err, h.exitCode, noRestartCodes(os.Getenv(NoRestartEnv)), h.report)
			if !out.report {
				// Unreported, the end counts as a failure: the manager
				// restarts the service after its recovery delay.
				os.Exit(int(out.code))
			}
			return out.code != 0, out.code
		case r := <-reqs:
			switch r.Cmd {
			case svc.Interrogate:
				status <- r.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending}
				cancel()
				h.err = <-done
				return false, 0
			}
		}
	}
}
