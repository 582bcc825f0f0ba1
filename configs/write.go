package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"
)

//go:embed config.yaml.tmpl
var configTemplate string

var writeTmpl = template.Must(template.New("config").Funcs(template.FuncMap{
	"str":  yamlString,
	"path": func(s string) string { return yamlString(escapeDollar(s)) },
}).Parse(configTemplate))

// yamlString renders s as a YAML scalar that reads back as the same string.
func yamlString(s string) string {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if strings.ContainsAny(s, "\n\r\t") {
		n.Style = yaml.DoubleQuotedStyle
	}
	out, err := yaml.Marshal(n)
	if err != nil {
		// Marshalling a plain string node cannot fail; be safe anyway.
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// Render returns the config as a commented YAML file, like
// chatsafe.example.yaml, that Load reads back to the same values.
func (c *Config) Render() ([]byte, error) {
	var buf bytes.Buffer
	if err := writeTmpl.Execute(&buf, c); err != nil {
		return nil, fmt.Errorf("rendering config: %w", err)
	}
	return buf.Bytes(), nil
}

// Write stores the config at path atomically (temporary file, fsync,
// rename, fsync of the directory) with mode 0600, creating the directory
// (0700) if needed. A new file is rendered from the template; an existing
// one is edited where its settings differ from c and keeps everything
// else: the user's other settings, comments, blank lines and order. The
// result is loaded back first, so Write never leaves a config that Load
// rejects. A symbolic link at path stays: the file it names is replaced.
func (c *Config) Write(path string) error {
	data, unchanged, err := c.contentFor(path)
	if err != nil || unchanged {
		return err
	}
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating config directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing config %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := writeSync(tmp, data); err != nil {
		return fmt.Errorf("writing config %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing config %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		// Make the rename durable; some file systems cannot sync a
		// directory, which is not worth failing for.
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// CheckWrite returns the error Write(path) would fail with for what it
// would write (an edit that cannot be made in place, a result that would
// not load), writing nothing: a command checks its edit so before a step
// it cannot take back.
func (c *Config) CheckWrite(path string) error {
	_, _, err := c.contentFor(path)
	return err
}

// contentFor is what Write puts at path; unchanged when the file there
// holds it already.
func (c *Config) contentFor(path string) (data []byte, unchanged bool, err error) {
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		data, err := c.Render()
		if err != nil {
			return nil, false, err
		}
		if _, err := Parse(path, data); err != nil {
			return nil, false, fmt.Errorf("refusing to write a config that would not load: %w", err)
		}
		return data, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading config %s to update it: %w", path, err)
	}
	was, err := Parse(path, old)
	if err != nil {
		return nil, false, fmt.Errorf("%s does not load, so it is not rewritten (fix it, then run the command again): %w", path, err)
	}
	data, err = c.update(path, old, was)
	if err != nil {
		return nil, false, err
	}
	return data, bytes.Equal(data, old), nil
}

func writeSync(f *os.File, data []byte) error {
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
