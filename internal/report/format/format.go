// SPDX-License-Identifier: LGPL-3.0-only

// Package format prints rows of figures the way flux jobs does: a format
// string of {field:spec} items, where spec is Python's format mini-language
// ([[fill]align][sign][0][width][,][.precision][type], and flux's "+" after
// a precision: mark a cut string with "+"), "?:" before a field name drops
// the column where every row leaves it empty, and named formats stand for
// whole format strings. A field's value prints in human units (12.4 kJ,
// 514 W) unless the spec names a numeric type (f, e, g, d, %), which prints
// the number itself, in base units (J, W, s).
//
// On a terminal (Options.Width > 0) the columns that do not fit are
// dropped whole, in the order each field says (Field.Drop), never cut in
// the middle of a number; without a width nothing is cut.
package format

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Cell is one field's value in one row.
type Cell struct {
	// Num is the value in base units, where IsNum.
	Num   float64
	IsNum bool
	// Text is what prints without a numeric type in the spec: the value in
	// human units, or the string itself. "" and "-" are empty (see "?:").
	Text string
	// Blank counts the cell as empty to "?:" whatever it prints (a count
	// of zero, say).
	Blank bool
}

// Number is a numeric cell printed as human.
func Number(v float64, human string) Cell { return Cell{Num: v, IsNum: true, Text: human} }

// Text is a string cell.
func Text(s string) Cell { return Cell{Text: s} }

// None is a cell with no value: "-" in the table, empty to "?:".
var None = Cell{Text: "-"}

// Field is one column a format string may name.
type Field[R any] struct {
	Name   string
	Header string
	Get    func(R) Cell
	// Drop orders the columns dropped to fit a terminal: the highest goes
	// first; 0 never goes.
	Drop int
}

// Fields are the fields of one kind of row. Lookup finds fields that are
// not in the list (for example one per device), and expands patterns
// ("gpu*_power_w") to the names present, in order.
type Fields[R any] struct {
	List []Field[R]
	// More finds a field by a name that is not in List (nil: none).
	More func(name string) (Field[R], bool)
	// Names are the names "*" patterns expand over, in order (default:
	// List's).
	Names []string
	// Named are the named formats.
	Named map[string]string
}

func (fs *Fields[R]) lookup(name string) (Field[R], bool) {
	for _, f := range fs.List {
		if f.Name == name {
			return f, true
		}
	}
	if fs.More != nil {
		return fs.More(name)
	}
	return Field[R]{}, false
}

func (fs *Fields[R]) names() []string {
	if fs.Names != nil {
		return fs.Names
	}
	out := make([]string, len(fs.List))
	for i, f := range fs.List {
		out[i] = f.Name
	}
	return out
}

// spec is a parsed format spec.
type spec struct {
	fill      rune
	align     byte // 0, '<', '>', '^', '='
	sign      byte // 0, '+', '-', ' '
	zero      bool
	width     int
	grouping  byte // 0, ',', '_'
	precision int  // -1: none
	typ       byte // 0, 's', 'd', 'f', 'F', 'e', 'E', 'g', 'G', '%'
	mark      bool // "+": mark a cut string
	raw       string
}

func (s spec) numeric() bool { return s.typ != 0 && s.typ != 's' }

// parseSpec reads Python's format spec (and flux's "+").
func parseSpec(str string) (spec, error) {
	s := spec{precision: -1, raw: str}
	rs := []rune(str)
	i := 0
	isAlign := func(r rune) bool { return r == '<' || r == '>' || r == '^' || r == '=' }
	switch {
	case len(rs) >= 2 && isAlign(rs[1]):
		s.fill, s.align, i = rs[0], byte(rs[1]), 2
	case len(rs) >= 1 && isAlign(rs[0]):
		s.align, i = byte(rs[0]), 1
	}
	if i < len(rs) && (rs[i] == '+' || rs[i] == '-' || rs[i] == ' ') {
		s.sign = byte(rs[i])
		i++
	}
	if i < len(rs) && rs[i] == '0' {
		s.zero = true
		i++
	}
	j := i
	for i < len(rs) && rs[i] >= '0' && rs[i] <= '9' {
		i++
	}
	if i > j {
		s.width, _ = strconv.Atoi(string(rs[j:i]))
	}
	if i < len(rs) && (rs[i] == ',' || rs[i] == '_') {
		s.grouping = byte(rs[i])
		i++
	}
	if i < len(rs) && rs[i] == '.' {
		i++
		j = i
		for i < len(rs) && rs[i] >= '0' && rs[i] <= '9' {
			i++
		}
		if i == j {
			return s, fmt.Errorf("format spec %q: a precision after '.'", str)
		}
		s.precision, _ = strconv.Atoi(string(rs[j:i]))
	}
	if i < len(rs) && strings.ContainsRune("sdfFeEgG%", rs[i]) {
		s.typ = byte(rs[i])
		i++
	}
	if i < len(rs) && rs[i] == '+' {
		s.mark = true
		i++
	}
	if i != len(rs) {
		return s, fmt.Errorf("format spec %q: unexpected %q", str, string(rs[i:]))
	}
	if s.fill == 0 {
		s.fill = ' '
		if s.zero && s.align == 0 {
			s.fill, s.align = '0', '='
		}
	}
	return s, nil
}

// item is one {field:spec} of a format, with the literal text before it.
type item[R any] struct {
	lit      string
	field    Field[R]
	spec     spec
	optional bool // "?:": dropped where every row is empty
}

// Format is a parsed format string.
type Format[R any] struct {
	items []item[R]
	tail  string // literal text after the last item
}

// Parse reads a format string, or a named format (fs.Named).
func (fs *Fields[R]) Parse(s string) (*Format[R], error) {
	if named, ok := fs.Named[s]; ok {
		s = named
	}
	f := &Format[R]{}
	var lit strings.Builder
	braces := 0 // {field} items, matched or not
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i += 2
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i += 2
		case c == '}':
			return nil, fmt.Errorf("format %q: a single '}' (write '}}' for one)", s)
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("format %q: '{' without '}'", s)
			}
			body := s[i+1 : i+end]
			i += end + 1
			braces++
			optional := strings.HasPrefix(body, "?:")
			body = strings.TrimPrefix(body, "?:")
			name, specStr, _ := strings.Cut(body, ":")
			if name == "" {
				return nil, fmt.Errorf("format %q: an empty field name", s)
			}
			sp, err := parseSpec(specStr)
			if err != nil {
				return nil, err
			}
			names := []string{name}
			if strings.ContainsAny(name, "*?[") {
				names = nil
				for _, n := range fs.names() {
					if ok, _ := path.Match(name, n); ok {
						names = append(names, n)
					}
				}
			}
			for k, n := range names {
				fd, ok := fs.lookup(n)
				if !ok {
					return nil, fmt.Errorf("unknown field %q (flux power-query --help-fields, or flux-power-query(1), lists them)", n)
				}
				l := lit.String()
				if k > 0 {
					l = " " // the columns of a pattern are one space apart
				}
				f.items = append(f.items, item[R]{lit: l, field: fd, spec: sp, optional: optional})
			}
			if len(names) > 0 {
				lit.Reset()
			}
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			lit.WriteRune(r)
			i += n
		}
	}
	f.tail = lit.String()
	if braces == 0 {
		return nil, fmt.Errorf("format %q names no field: give {field} items or a named format (%s)", s, strings.Join(fs.NamedList(), ", "))
	}
	return f, nil
}

// NamedList is the names of the named formats, in order.
func (fs *Fields[R]) NamedList() []string {
	out := make([]string, 0, len(fs.Named))
	for n := range fs.Named {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Options of Render.
type Options struct {
	NoHeader bool
	// Width is the terminal's width: columns are dropped (Field.Drop) until
	// every line fits. 0: nothing is dropped.
	Width int
}

// ErrTooNarrow is returned by Fit where even the columns that never drop
// do not fit; Render prints them all the same.
var ErrTooNarrow = errors.New("the columns that are never dropped do not fit")

// Lines formats rows (and the header, unless opts.NoHeader) into lines,
// dropping the columns that are empty in every row where marked "?:", and,
// with opts.Width, the columns that do not fit.
func (f *Format[R]) Lines(rows []R, opts Options) []string {
	lines, _ := f.Fit(rows, opts)
	return lines
}

// Fit is Lines, and the headers of the columns dropped to fit opts.Width,
// in the order of the format.
func (f *Format[R]) Fit(rows []R, opts Options) (lines []string, dropped []string) {
	// every cell of every row, formatted
	cells := make([][]string, len(f.items))
	keep := make([]bool, len(f.items))
	for k, it := range f.items {
		cells[k] = make([]string, len(rows))
		empty := true
		for i, r := range rows {
			c := it.field.Get(r)
			if !c.Blank && (c.IsNum || (c.Text != "" && c.Text != "-")) {
				empty = false
			}
			cells[k][i] = render(c, it.spec)
		}
		keep[k] = !(it.optional && empty)
	}
	headers := make([]string, len(f.items))
	for k, it := range f.items {
		headers[k] = renderHeader(it.field.Header, it.spec)
	}
	build := func() []string {
		var out []string
		line := func(get func(k int) string) string {
			var b strings.Builder
			for k, it := range f.items {
				if keep[k] {
					b.WriteString(it.lit)
					b.WriteString(get(k))
				}
			}
			b.WriteString(f.tail)
			return strings.TrimRight(b.String(), " ")
		}
		if !opts.NoHeader {
			out = append(out, line(func(k int) string { return headers[k] }))
		}
		for i := range rows {
			out = append(out, line(func(k int) string { return cells[k][i] }))
		}
		return out
	}
	lines = build()
	if opts.Width <= 0 {
		return lines, nil
	}
	fitted := make([]bool, len(f.items))
	for widest(lines) > opts.Width {
		drop := -1
		for k, it := range f.items {
			if keep[k] && it.field.Drop > 0 && (drop < 0 || it.field.Drop >= f.items[drop].field.Drop) {
				drop = k // the highest Drop, the rightmost of equals
			}
		}
		if drop < 0 {
			break // what never drops is printed whole
		}
		keep[drop], fitted[drop] = false, true
		lines = build()
	}
	for k, it := range f.items {
		if fitted[k] {
			dropped = append(dropped, it.field.Header)
		}
	}
	return lines, dropped
}

// DroppedNote says which columns were dropped to fit a terminal, for a
// line under the table ("" where none were).
func DroppedNote(dropped []string, width int) string {
	if len(dropped) == 0 {
		return ""
	}
	return fmt.Sprintf("not shown to fit %d columns: %s (a wider terminal or a pipe shows them)", width, strings.Join(dropped, " "))
}

// Render prints the lines of rows.
func (f *Format[R]) Render(w io.Writer, rows []R, opts Options) error {
	for _, l := range f.Lines(rows, opts) {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

func widest(lines []string) int {
	n := 0
	for _, l := range lines {
		n = max(n, utf8.RuneCountInString(l))
	}
	return n
}

// render prints one cell by its spec.
func render(c Cell, s spec) string {
	var str string
	right := c.IsNum
	switch {
	case s.numeric() && c.IsNum:
		str = number(c.Num, s)
	default:
		str = c.Text
		if s.precision >= 0 && !s.numeric() && utf8.RuneCountInString(str) > s.precision {
			str = cut(str, s.precision, s.mark)
		}
	}
	return pad(str, s, right)
}

// renderHeader prints a header as its column's cells are: same width and
// alignment (numbers to the right), cut to a string precision.
func renderHeader(h string, s spec) string {
	if s.precision >= 0 && !s.numeric() && utf8.RuneCountInString(h) > s.precision {
		h = cut(h, s.precision, s.mark)
	}
	hs := s
	if hs.align == '=' {
		hs.align = '>'
	}
	hs.fill = ' '
	return pad(h, hs, s.numeric() || s.align == '>')
}

func cut(s string, n int, mark bool) string {
	rs := []rune(s)
	if n <= 0 {
		return ""
	}
	rs = rs[:n]
	if mark {
		rs[n-1] = '+'
	}
	return string(rs)
}

func pad(str string, s spec, right bool) string {
	n := utf8.RuneCountInString(str)
	if n >= s.width {
		return str
	}
	fill := strings.Repeat(string(s.fill), s.width-n)
	align := s.align
	if align == 0 {
		align = '<'
		if right {
			align = '>'
		}
	}
	switch align {
	case '>':
		return fill + str
	case '^':
		l := (s.width - n) / 2
		return strings.Repeat(string(s.fill), l) + str + strings.Repeat(string(s.fill), s.width-n-l)
	case '=':
		if len(str) > 0 && (str[0] == '-' || str[0] == '+' || str[0] == ' ') {
			return str[:1] + fill + str[1:]
		}
		return fill + str
	}
	return str + fill
}

// number prints v by a numeric spec, as Python does.
func number(v float64, s spec) string {
	prec := s.precision
	var str string
	switch s.typ {
	case 'd':
		str = strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	case '%':
		if prec < 0 {
			prec = 6
		}
		str = strconv.FormatFloat(v*100, 'f', prec, 64) + "%"
	case 'f', 'F', 'e', 'E':
		if prec < 0 {
			prec = 6
		}
		str = strconv.FormatFloat(v, s.typ|0x20, prec, 64)
		if s.typ == 'F' || s.typ == 'E' {
			str = strings.ToUpper(str)
		}
	case 'g', 'G':
		if prec < 0 {
			prec = 6
		}
		if prec == 0 {
			prec = 1
		}
		str = strconv.FormatFloat(v, 'g', prec, 64)
		if s.typ == 'G' {
			str = strings.ToUpper(str)
		}
	}
	if s.grouping != 0 {
		str = group(str, s.grouping)
	}
	if !strings.HasPrefix(str, "-") {
		switch s.sign {
		case '+':
			str = "+" + str
		case ' ':
			str = " " + str
		}
	}
	return str
}

// group puts a separator between the thousands of the integer part.
func group(s string, sep byte) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, rest := s, ""
	if i := strings.IndexAny(s, ".e%E"); i >= 0 {
		intPart, rest = s[:i], s[i:]
	}
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(sep)
		}
		b.WriteRune(c)
	}
	out := b.String() + rest
	if neg {
		out = "-" + out
	}
	return out
}
