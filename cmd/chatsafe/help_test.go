package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every command explains itself: a Short, a Long, an example, and every
// flag a description.
func TestEveryCommandHasHelp(t *testing.T) {
	root := buildRootCommand(&globalOptions{defaultConfig: "/nonexistent/config.yaml"})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		name := c.CommandPath()
		if c.Short == "" || c.Long == "" || !strings.Contains(c.Example, "chatsafe ") {
			t.Errorf("%s: Short %q, Long %d bytes, Example %q", name, c.Short, len(c.Long), c.Example)
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden && len(f.Usage) < 10 {
				t.Errorf("%s --%s: usage %q", name, f.Name, f.Usage)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// The README's command list names every command there is.
func TestREADMEListsEveryCommand(t *testing.T) {
	readme := readFile(t, "../../README.md")
	root := buildRootCommand(&globalOptions{defaultConfig: "/nonexistent/config.yaml"})
	for _, c := range root.Commands() {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if !strings.Contains(readme, "chatsafe "+c.Name()) {
			t.Errorf("README does not mention `chatsafe %s`", c.Name())
		}
	}
}

// The testing-only flags exist only in test builds (-tags chatsafe_testhooks).
func TestTestHooksOnlyInTestBuilds(t *testing.T) {
	root := buildRootCommand(&globalOptions{defaultConfig: "/nonexistent/config.yaml"})
	d, _, err := root.Find([]string{"daemon"})
	if err != nil {
		t.Fatal(err)
	}
	if has := d.Flags().Lookup("test-upload-latency") != nil; has != testHooks {
		t.Fatalf("--test-upload-latency present: %v; this build has test hooks: %v", has, testHooks)
	}
	if !testHooks {
		run(t, t.TempDir(), "daemon", "--test-upload-latency", "1s").want(t, 2, "unknown flag")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestGroupCommandsNeedAnAction: a command that only groups others (key,
// vault, fork, completion, service) refuses an unknown action or none with
// exit 2, instead of printing its help and exiting 0.
func TestGroupCommandsNeedAnAction(t *testing.T) {
	home := t.TempDir()
	for _, group := range []string{"key", "vault", "fork", "completion", "service"} {
		run(t, home, group, "bogus").want(t, exitUsage, "bogus")
		run(t, home, group).want(t, exitUsage, "name an action")
	}
}
