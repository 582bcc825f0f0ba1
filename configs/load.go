package configs

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads, expands, validates and defaults the config at path. Keys
// missing from the file take their values from Default(). Unknown keys, bad
// values and YAML errors are reported as *Error naming file, line and key.
// Load does not require the source directory to exist; call Check for that.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read config (create one with `chatsafe init` or pass --config): %w", ErrConfig, err)
	}
	return Parse(path, data)
}

// Parse is Load on data already read; name is used in messages and to
// resolve relative paths (relative to the directory of name).
func Parse(name string, data []byte) (*Config, error) {
	c := Default()
	c.Path = name
	c.lines = map[string]int{}
	d := &decoder{file: name, lines: c.lines}

	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, d.syntaxErr(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{File: name, Line: extra.Line, Msg: "more than one YAML document; a config file holds exactly one"}
	} else if !errors.Is(err, io.EOF) {
		return nil, d.syntaxErr(err)
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		if err := d.decode(doc.Content[0], "", reflect.ValueOf(c).Elem()); err != nil {
			return nil, err
		}
	}
	// A retention section is a whole policy, as restic's flags are: rules
	// it does not name keep nothing rather than their defaults.
	r := &c.Retention
	rules := map[string]*int{"keep_last": &r.KeepLast, "keep_hourly": &r.KeepHourly,
		"keep_daily": &r.KeepDaily, "keep_weekly": &r.KeepWeekly, "keep_monthly": &r.KeepMonthly}
	named := 0
	for k := range rules {
		if _, ok := c.lines["retention."+k]; ok {
			named++
		}
	}
	if named > 0 {
		for k, p := range rules {
			if _, ok := c.lines["retention."+k]; !ok {
				*p = 0
			}
		}
	}
	if err := c.expand(); err != nil {
		return nil, err
	}
	if _, set := c.lines["status_socket"]; !set {
		c.StatusSocket = DefaultSocket(c.StateDir)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

type decoder struct {
	file  string
	lines map[string]int
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (d *decoder) syntaxErr(err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: d.file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{File: d.file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

func (d *decoder) errf(n *yaml.Node, key, format string, args ...any) error {
	return &Error{File: d.file, Line: n.Line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// decode sets v from n, strictly: only keys named by yaml struct tags, only
// the expected node kinds. key is the dotted path of v, for messages.
func (d *decoder) decode(n *yaml.Node, key string, v reflect.Value) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		if n.Value == "~" && n.Style == 0 && v.Kind() == reflect.String {
			// YAML reads a bare ~ as null; in a path it means home.
			v.SetString("~")
		}
		return nil // "key:" with no value leaves the default
	}
	what := key
	if what == "" {
		what = "the config"
	}
	if v.Addr().Type().Implements(textUnmarshaler) {
		if n.Kind != yaml.ScalarNode {
			return d.errf(n, key, "%s: expected a single value, got %s", what, kindName(n))
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			return d.errf(n, key, "%s: %v", what, err)
		}
		return nil
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return d.errf(n, key, "%s: expected keys (a mapping), got %s", what, kindName(n))
		}
		return d.decodeStruct(n, key, v)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return d.errf(n, key, "%s: expected a list, got %s", what, kindName(n))
		}
		if len(n.Content) == 0 {
			v.SetZero() // "[]": validation tells whether empty is allowed
			return nil
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			k := fmt.Sprintf("%s[%d]", key, i)
			d.lines[k] = item.Line
			if err := d.decode(item, k, s.Index(i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return d.errf(n, key, "%s: expected a string, got %s", what, kindName(n))
		}
		v.SetString(n.Value)
		return nil
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			return d.errf(n, key, "%s: expected a whole number, got %s", what, kindName(n))
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 32)
		if err != nil {
			return d.errf(n, key, "%s: number %q is out of range", what, n.Value)
		}
		v.SetInt(i)
		return nil
	}
	return d.errf(n, key, "%s: unsupported value", what)
}

func (d *decoder) decodeStruct(n *yaml.Node, key string, v reflect.Value) error {
	t := v.Type()
	fields := map[string]int{}
	var known []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = i
		known = append(known, name)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		name := kn.Value
		idx, ok := fields[name]
		if !ok {
			in := ""
			if key != "" {
				in = " in " + key
			}
			return d.errf(kn, joinKey(key, name), "unknown key %q%s (known: %s)", name, in, strings.Join(known, ", "))
		}
		k := joinKey(key, name)
		if prev, dup := seen[name]; dup {
			return d.errf(kn, k, "%s is set twice (first on line %d); keep one", k, prev)
		}
		seen[name] = kn.Line
		d.lines[k] = kn.Line
		if err := d.decode(vn, k, v.Field(idx)); err != nil {
			return err
		}
	}
	return nil
}

func joinKey(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}
