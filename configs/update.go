package configs

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A config written back over the file it was loaded from (key
// set-password, key remove-password) changes only the lines of the
// settings whose values change: every other setting, comment, blank line
// and the order stay byte for byte. Rendering the template instead lost
// the user's comments and any setting the template did not carry.

// update returns old, a config file that loads as was, edited to load as
// c. A file whose top level is not a block mapping (flow style) has no
// lines to keep: it is rendered whole. Either way the result is loaded
// back first (loadsAs).
func (c *Config) update(name string, old []byte, was *Config) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(old, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, name, err)
	}
	if len(doc.Content) != 1 || !isBlock(doc.Content[0], yaml.MappingNode) {
		out, err := c.Render()
		if err == nil {
			err = c.loadsAs(name, out)
		}
		if err != nil {
			return nil, c.refused(name, was, err)
		}
		return out, nil
	}
	text := string(old)
	p := &patcher{lines: strings.Split(text, "\n")}
	if strings.Contains(text, "\r\n") {
		p.cr = "\r"
	}
	endsInNewline := strings.HasSuffix(text, "\n")
	if endsInNewline {
		p.lines = p.lines[:len(p.lines)-1]
	}
	def := Default()
	def.StatusSocket = DefaultSocket(c.StateDir) // what a file without status_socket loads as
	end := p.documentEnd()
	adds, _ := p.fields(doc.Content[0], end, reflect.ValueOf(c).Elem(), reflect.ValueOf(was).Elem(), reflect.ValueOf(def).Elem(), "", false)
	if len(adds) > 0 {
		p.replace(end, end, adds)
		endsInNewline = endsInNewline || end == len(p.lines)
	}
	lines, err := p.apply()
	out := strings.Join(lines, "\n")
	if endsInNewline {
		out += "\n"
	}
	if err == nil {
		err = c.loadsAs(name, []byte(out))
	}
	if err != nil {
		return nil, c.refused(name, was, err)
	}
	return []byte(out), nil
}

// loadsAs checks an edit as a whole: a file that would not load, or would
// load to other settings than c's (an alias to a value that changed, a
// relative path), is never written.
func (c *Config) loadsAs(name string, out []byte) error {
	got, err := Parse(name, out)
	if err != nil {
		return err
	}
	if d := settingsDiff(got, c); len(d) > 0 {
		return fmt.Errorf("%s would change too", strings.Join(d, ", "))
	}
	return nil
}

// refused is the error of an edit of the file name (which loads as was)
// that cannot be made, for err: it names the settings to set by hand.
func (c *Config) refused(name string, was *Config, err error) error {
	return fmt.Errorf("%w: %s cannot be updated in place (%w), so it is unchanged: set %s there yourself",
		ErrConfig, name, err, strings.Join(settingsDiff(c, was), ", "))
}

// documentEnd is where the file's mapping ends: before a "..." that
// ends the document, else at the end of the file.
func (p *patcher) documentEnd() int {
	for i := len(p.lines) - 1; i >= 0; i-- {
		t := strings.TrimSpace(p.lines[i])
		switch {
		case t == "...":
			return i
		case t != "" && t[0] != '#':
			return len(p.lines)
		}
	}
	return len(p.lines)
}

// patcher collects line edits of a config file and applies them at once.
type patcher struct {
	lines []string // the file's lines, without their "\n"
	cr    string   // "\r" when the file's lines end in "\r\n"
	edits []edit
}

// edit replaces the file's lines [from, to) with lines.
type edit struct {
	from, to int
	lines    []string
}

func (p *patcher) replace(from, to int, lines []string) {
	p.edits = append(p.edits, edit{from, to, lines})
}

// remove deletes the lines [start, stop) of a key, and the blank line
// before them if one follows them too (no gap of two blank lines).
func (p *patcher) remove(start, stop int) {
	blank := func(i int) bool { return i >= len(p.lines) || strings.TrimSpace(p.lines[i]) == "" }
	if start > 0 && blank(start-1) && blank(stop) {
		start--
	}
	p.replace(start, stop, nil)
}

// apply makes the edits, bottom up so that each one's line numbers hold.
// Edits at one place go in the order they were made.
func (p *patcher) apply() ([]string, error) {
	order := make([]int, len(p.edits))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		x, y := p.edits[order[a]], p.edits[order[b]]
		if x.from != y.from {
			return x.from > y.from
		}
		if x.to != y.to {
			return x.to > y.to
		}
		return order[a] > order[b]
	})
	lines := slices.Clone(p.lines)
	prevFrom := len(lines)
	for _, i := range order {
		e := p.edits[i]
		if e.to > prevFrom {
			return nil, fmt.Errorf("overlapping edits at line %d", e.from+1)
		}
		prevFrom = e.from
		add := make([]string, len(e.lines))
		for j, l := range e.lines {
			add[j] = l + p.cr
		}
		lines = slices.Concat(lines[:e.from], add, lines[e.to:])
	}
	return lines, nil
}

// fields edits the block mapping m, whose text ends before line end, so
// that the struct it holds loads as want instead of was; def holds what
// keys left out load as, and all (retention, a section that is one
// policy) writes every key of a changed section. It returns the lines,
// indented from m's keys, of keys to add at m's end, and whether every key
// m had is deleted and none added.
func (p *patcher) fields(m *yaml.Node, end int, want, was, def reflect.Value, key string, all bool) (adds []string, emptied bool) {
	kept := 0
	for i := range want.NumField() {
		name := yamlName(want.Type().Field(i))
		if name == "" {
			continue
		}
		k := joinKey(key, name)
		w, o, d := want.Field(i), was.Field(i), def.Field(i)
		at := entryIndex(m, name)
		switch {
		case at < 0 && (all || !same(w, o) && !same(w, d)):
			adds = append(adds, render(name, w, d, k)...)
		case at < 0:
		case same(w, o) || p.entry(m, at, end, w, o, d, k, all):
			kept++
		}
	}
	return adds, len(m.Content) > 0 && kept == 0 && len(adds) == 0
}

// entry edits the key at m.Content[at] to hold w (it held o) and reports
// whether the key stays in the file.
func (p *patcher) entry(m *yaml.Node, at, end int, w, o, d reflect.Value, key string, all bool) bool {
	kn, vn := m.Content[at], m.Content[at+1]
	start, stop := kn.Line-1, p.entryEnd(m, at, end)
	indent := kn.Column - 1
	if isSection(w) {
		childAll := w.Type() == reflect.TypeFor[Retention]()
		if isBlock(vn, yaml.MappingNode) {
			mark := len(p.edits)
			adds, emptied := p.fields(vn, stop, w, o, d, key, childAll)
			if emptied && strings.Contains(key, ".") {
				// A nested section left empty goes with its keys
				// (remove-password: key.vault); a top-level one keeps its
				// line and comments.
				p.edits = p.edits[:mark]
				p.remove(start, stop)
				return false
			}
			if len(adds) > 0 {
				p.replace(stop, stop, indentLines(adds, vn.Content[0].Column-1))
			}
			return true
		}
		sub := renderFields(w, d, key, childAll)
		if vn.Kind == yaml.ScalarNode && vn.ShortTag() == "!!null" && stop == start+1 {
			// "key:" with nothing (or ~) under it: the keys go right below.
			if s, e, ok := p.span(vn); ok && vn.Line == kn.Line {
				line := strings.TrimSuffix(p.lines[start], "\r")
				p.replace(start, stop, append([]string{strings.TrimRight(line[:s], " \t") + line[e:]}, indentLines(sub, indent+2)...))
				return true
			}
		}
		if len(sub) == 0 {
			p.remove(start, stop)
			return false
		}
		// Any other shape (flow style, an alias): the key is written anew.
		p.replace(start, stop, indentLines(append([]string{kn.Value + ":"}, indentLines(sub, 2)...), indent))
		return true
	}
	if !all && w.Kind() != reflect.Slice && w.IsZero() && same(w, d) {
		// An emptied setting (remove-password's key.vault.url) goes; an
		// emptied list is written as [].
		p.remove(start, stop)
		return false
	}
	if w.Kind() == reflect.Slice {
		if p.list(vn, stop, w, o, key) {
			return true
		}
	} else if p.setScalar(vn, stop, scalar(key, w)) {
		return true
	}
	p.replace(start, stop, indentLines(render(kn.Value, w, d, key), indent))
	return true
}

// entryEnd is the line after the last line of m.Content[at]'s value:
// before the next key (or end), less the blank and comment lines there,
// which belong to what follows.
func (p *patcher) entryEnd(m *yaml.Node, at, end int) int {
	limit := end
	if at+2 < len(m.Content) {
		limit = m.Content[at+2].Line - 1
	}
	start := m.Content[at].Line - 1
	for limit-1 > start {
		t := strings.TrimSpace(p.lines[limit-1])
		if t != "" && t[0] != '#' {
			break
		}
		limit--
	}
	return limit
}

// setScalar writes text in place of the single-line scalar v, keeping
// the rest of its line (a comment, its alignment); false if v is not one.
func (p *patcher) setScalar(v *yaml.Node, stop int, text string) bool {
	if stop != v.Line {
		return false // the value runs on over more lines
	}
	s, e, ok := p.span(v)
	if !ok {
		return false
	}
	line := strings.TrimSuffix(p.lines[v.Line-1], "\r")
	before, after := line[:s], line[e:]
	if s == e {
		before = strings.TrimRight(before, " \t") + " " // "key:" with no value
	}
	if after != "" && after[0] != ' ' && after[0] != '\t' {
		after = " " + after
	}
	p.replace(v.Line-1, v.Line, []string{before + text + after})
	return true
}

// span is where the scalar v's text is on its line (byte offsets), if it
// is a plain or quoted scalar on one line followed by nothing but a
// comment.
func (p *patcher) span(v *yaml.Node) (s, e int, ok bool) {
	if v.Kind != yaml.ScalarNode || v.Line < 1 || v.Line > len(p.lines) {
		return 0, 0, false
	}
	line := strings.TrimSuffix(p.lines[v.Line-1], "\r")
	if s = byteOffset(line, v.Column-1); s < 0 {
		return 0, 0, false
	}
	switch v.Style {
	case 0:
		e = len(line)
		for i := s; i < len(line); i++ {
			if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
				e = i
				break
			}
		}
		e = s + len(strings.TrimRight(line[s:e], " \t"))
		if line[s:e] != v.Value {
			return 0, 0, false
		}
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if e = quotedEnd(line, s); e < 0 {
			return 0, 0, false
		}
	default:
		return 0, 0, false
	}
	if rest := strings.TrimLeft(line[e:], " \t"); rest != "" && rest[0] != '#' {
		return 0, 0, false
	}
	return s, e, true
}

// quotedEnd is the offset after the quoted scalar starting at line[s],
// or -1 if it does not end on this line.
func quotedEnd(line string, s int) int {
	q := line[s]
	for i := s + 1; i < len(line); i++ {
		switch {
		case q == '"' && line[i] == '\\':
			i++
		case line[i] == q && q == '\'' && i+1 < len(line) && line[i+1] == '\'':
			i++
		case line[i] == q:
			return i + 1
		}
	}
	return -1
}

// byteOffset is the byte offset of the col-th character (from 0) of line,
// as yaml.v3 counts columns; -1 past the line's end.
func byteOffset(line string, col int) int {
	n := 0
	for i := range line {
		if n == col {
			return i
		}
		n++
	}
	if n == col {
		return len(line)
	}
	return -1
}

// list edits the block sequence sq (its key's text ends before stop) from
// o's items to w's: the items both share at the start stay, the rest is
// replaced, so that adding a remote adds its lines only.
func (p *patcher) list(sq *yaml.Node, stop int, w, o reflect.Value, key string) bool {
	if !isBlock(sq, yaml.SequenceNode) || len(sq.Content) != o.Len() || w.Len() == 0 {
		return false
	}
	k := 0
	for k < w.Len() && k < o.Len() && same(w.Index(k), o.Index(k)) {
		k++
	}
	from := stop
	if k < len(sq.Content) {
		item := sq.Content[k]
		line := strings.TrimSuffix(p.lines[item.Line-1], "\r")
		if at := byteOffset(line, item.Column-1); at < 0 || !strings.HasSuffix(strings.TrimRight(line[:at], " "), "-") {
			return false // the item does not start on its dash's line
		}
		from = item.Line - 1
	}
	p.replace(from, stop, indentLines(renderItems(w.Slice(k, w.Len()), key), sq.Column-1))
	return true
}

// render is the lines of key name holding w; def holds what keys left
// out of a section load as.
func render(name string, w, d reflect.Value, key string) []string {
	switch {
	case isSection(w):
		sub := renderFields(w, d, key, w.Type() == reflect.TypeFor[Retention]())
		if len(sub) == 0 {
			return nil
		}
		return append([]string{name + ":"}, indentLines(sub, 2)...)
	case w.Kind() == reflect.Slice && w.Len() == 0:
		return []string{name + ": []"}
	case w.Kind() == reflect.Slice:
		return append([]string{name + ":"}, indentLines(renderItems(w, key), 2)...)
	}
	return []string{name + ": " + scalar(key, w)}
}

// renderFields is the lines of the keys of section w whose values differ
// from d's (every key, with all).
func renderFields(w, d reflect.Value, key string, all bool) []string {
	var out []string
	for i := range w.NumField() {
		name := yamlName(w.Type().Field(i))
		if name == "" || !all && same(w.Field(i), d.Field(i)) {
			continue
		}
		out = append(out, render(name, w.Field(i), d.Field(i), joinKey(key, name))...)
	}
	return out
}

// renderItems is a list's items as "- " lines.
func renderItems(w reflect.Value, key string) []string {
	var out []string
	for i := range w.Len() {
		item := w.Index(i)
		lines := []string{scalar(key, item)}
		if isSection(item) {
			lines = renderFields(item, reflect.Zero(item.Type()), key, false)
		}
		for j, l := range lines {
			if j == 0 {
				out = append(out, "- "+l)
			} else {
				out = append(out, "  "+l)
			}
		}
	}
	return out
}

// expanded are the keys whose values Load expands ($VAR, ~): "$" is
// written as "$$" there. List items are named by the list ("remotes.url").
var expanded = map[string]bool{"source": true, "state_dir": true, "rclone_config": true, "status_socket": true,
	"key.password_file": true, "key.vault.ca_file": true, "key.vault.url": true, "key.vault.account": true, "remotes.url": true}

// scalar is w as a YAML scalar that loads back as w under key.
func scalar(key string, w reflect.Value) string {
	if m, ok := w.Interface().(encoding.TextMarshaler); ok {
		b, err := m.MarshalText()
		if err == nil {
			return yamlString(string(b))
		}
	}
	switch w.Kind() {
	case reflect.String:
		if expanded[key] {
			return yamlString(escapeDollar(w.String()))
		}
		return yamlString(w.String())
	case reflect.Int:
		return strconv.FormatInt(w.Int(), 10)
	}
	return yamlString(fmt.Sprint(w.Interface()))
}

func indentLines(lines []string, n int) []string {
	pad := strings.Repeat(" ", n)
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = pad + l
	}
	return out
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func entryIndex(m *yaml.Node, name string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == name {
			return i
		}
	}
	return -1
}

func isBlock(n *yaml.Node, kind yaml.Kind) bool {
	return n.Kind == kind && n.Style&yaml.FlowStyle == 0 && len(n.Content) > 0
}

// isSection reports whether v is a section of keys (a struct the
// decoder reads key by key, not a value like Duration).
func isSection(v reflect.Value) bool {
	return v.Kind() == reflect.Struct && !v.Addr().Type().Implements(textUnmarshaler)
}

// same reports whether a and b load the same (an empty list as none).
func same(a, b reflect.Value) bool {
	if a.Kind() == reflect.Slice && a.Len() == 0 && b.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// settingsDiff is the settings whose values differ in a and b, as
// "dotted.key: a's value" (none when they hold the same settings).
func settingsDiff(a, b *Config) []string {
	return valueDiff(nil, "", reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem())
}

func valueDiff(out []string, key string, a, b reflect.Value) []string {
	if !isSection(a) {
		if same(a, b) {
			return out
		}
		v := a.Interface()
		if rs, ok := v.([]Remote); ok {
			// A connection string carries keys and passwords.
			redacted := make([]Remote, len(rs))
			for i, r := range rs {
				redacted[i] = r
				redacted[i].URL = redactRemote(r.URL)
			}
			v = redacted
		}
		return append(out, fmt.Sprintf("%s: %v", key, v))
	}
	for i := range a.NumField() {
		if name := yamlName(a.Type().Field(i)); name != "" {
			out = valueDiff(out, joinKey(key, name), a.Field(i), b.Field(i))
		}
	}
	return out
}
