package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// ManOptions are the arguments of `chatsafe man`.
type ManOptions struct {
	Dir string
}

func newManCommand(_ *globalOptions) *cobra.Command {
	var opts ManOptions
	cmd := &cobra.Command{
		Use:   "man DIR",
		Short: "Write man pages for every command into DIR",
		Long: `Write a man page (section 1) for chatsafe and for each of its commands into
DIR, which is created if needed. Shell completion comes from "chatsafe
completion bash|zsh|fish|powershell".`,
		Example: `  chatsafe man /usr/local/share/man/man1 && mandb
  chatsafe completion bash > /etc/bash_completion.d/chatsafe`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = args[0]
			return runMan(cmd.Root(), opts, cmd.OutOrStdout())
		},
	}
	return cmd
}

func runMan(root *cobra.Command, opts ManOptions, out io.Writer) error {
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return fmt.Errorf("creating the man page directory: %w", err)
	}
	root.DisableAutoGenTag = true // pages that do not change with the build date
	hdr := &doc.GenManHeader{Title: "CHATSAFE", Section: "1", Source: "chatsafe " + binaryVersion(), Manual: "chatsafe manual"}
	if err := doc.GenManTree(root, hdr, opts.Dir); err != nil {
		return fmt.Errorf("writing man pages to %s: %w", opts.Dir, err)
	}
	_, err := fmt.Fprintf(out, "man pages written to %s\n", opts.Dir)
	return err
}
