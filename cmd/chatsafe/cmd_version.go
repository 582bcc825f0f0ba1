package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/internal/buildinfo"
)

// VersionOptions are the flags of `chatsafe version`.
type VersionOptions struct {
	JSON bool
}

func newVersionCommand(_ *globalOptions) *cobra.Command {
	var opts VersionOptions
	cmd := &cobra.Command{
		Use:   "version [--json]",
		Short: "Show the version, the revision it was built from, and the Go and rclone versions",
		Long: `Show chatsafe's version, the VCS revision and commit time it was built from
(when the build recorded them), the Go version and platform, and the version
of the rclone library that talks to the remotes. "chatsafe --version" prints
the same on one line.`,
		Example: `  chatsafe version
  chatsafe version --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVersion(opts, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print {version, revision, time, modified, go_version, rclone, platform}")
	return cmd
}

func runVersion(opts VersionOptions, out io.Writer) error {
	in := buildinfo.Get(version)
	if opts.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(in)
	}
	rev, when := in.Revision, in.Time
	if rev == "" {
		rev = "unknown (built without VCS information)"
	} else if in.Modified {
		rev += " (with uncommitted changes)"
	}
	if when == "" {
		when = "unknown"
	}
	_, err := fmt.Fprintf(out, "chatsafe %s\nrevision: %s\ncommitted: %s\ngo:       %s %s\nrclone:   %s\n",
		in.Version, rev, when, in.GoVersion, in.Platform, in.Rclone)
	return err
}
