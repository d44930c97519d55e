// SPDX-License-Identifier: LGPL-3.0-only

package format

import (
	"strings"
	"testing"
	"time"
)

// TestNumberAsPython: numeric specs print as Python's format() does (the
// wanted strings are Python 3's).
func TestNumberAsPython(t *testing.T) {
	for _, c := range []struct {
		spec string
		v    float64
		want string
	}{
		{".1f", 1234.567, "1234.6"},
		{">10.2f", 1234.567, "   1234.57"},
		{",.0f", 1234567.8, "1,234,568"},
		{".3e", 1234.5, "1.234e+03"},
		{"g", 0.000012345, "1.2345e-05"},
		{".2%", 0.9531, "95.31%"},
		{"+.1f", 3.0, "+3.0"},
		{"08.2f", -3.14159, "-0003.14"},
		{"d", 42, "42"},
		{">6d", 42, "    42"},
		{"_.1f", 1234567.25, "1_234_567.2"},
		{"=+10.1f", 5.0, "+      5.0"},
		{".3g", 123456, "1.23e+05"},
		{"G", 1e20, "1E+20"},
		{"e", 0, "0.000000e+00"},
	} {
		sp, err := parseSpec(c.spec)
		if err != nil {
			t.Errorf("%q: %v", c.spec, err)
			continue
		}
		if got := render(Number(c.v, "human"), sp); got != c.want {
			t.Errorf("format(%v, %q) = %q, want %q", c.v, c.spec, got, c.want)
		}
	}
}

func TestTextSpecs(t *testing.T) {
	for _, c := range []struct{ spec, s, want string }{
		{"<8", "abc", "abc     "},
		{"^9", "abc", "   abc   "},
		{"*^9", "abc", "***abc***"},
		{".3", "abcdef", "abc"},
		{"<6.4+", "abcdef", "abc+  "},
		{"", "ƒ2eoTe1", "ƒ2eoTe1"},
		{">5", "ƒ2", "   ƒ2"}, // width counts characters, not bytes
	} {
		sp, err := parseSpec(c.spec)
		if err != nil {
			t.Errorf("%q: %v", c.spec, err)
			continue
		}
		if got := render(Text(c.s), sp); got != c.want {
			t.Errorf("format(%q, %q) = %q, want %q", c.s, c.spec, got, c.want)
		}
	}
	// a number without a numeric type prints in human units, to the right
	sp, _ := parseSpec(">8")
	if got := render(Number(12400, Joules(12400)), sp); got != " 12.4 kJ" {
		t.Errorf("human %q", got)
	}
}

func TestBadSpecs(t *testing.T) {
	for _, s := range []string{"10x", ".f", ">10.2fz"} {
		if _, err := parseSpec(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

func TestHuman(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{0, "J", "0 J"}, {873, "J", "873 J"}, {87.34, "J", "87.3 J"}, {8.734, "J", "8.73 J"},
		{12400, "J", "12.4 kJ"}, {999.6, "J", "1.00 kJ"}, {124000, "J", "124 kJ"}, {3.6e6, "J", "3.60 MJ"},
		{2e9, "J", "2.00 GJ"}, {514, "W", "514 W"}, {1234, "W", "1.23 kW"}, {0.5, "W", "0.500 W"},
		{-12400, "J", "-12.4 kJ"},
	} {
		if got := Human(c.v, c.unit); got != c.want {
			t.Errorf("Human(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
		if got := Human(c.v, c.unit); len([]rune(got)) > 8 {
			t.Errorf("Human(%v) = %q: wider than a column", c.v, got)
		}
	}
	for j, want := range map[float64]string{3.6e6: "1.00 kWh", 4.5e9: "1,250 kWh", 100: "0.0000278 kWh", 3.6e8: "100 kWh"} {
		if got := KWh(j); got != want {
			t.Errorf("KWh(%v) = %q, want %q", j, got, want)
		}
	}
	for f, want := range map[float64]string{1: "100%", 0.999: "100%", 0.874: "87%", 0.5: "50%", 0: "0%"} {
		if got := Percent(f); got != want {
			t.Errorf("Percent(%v) = %q, want %q", f, got, want)
		}
	}
}

type row struct {
	name string
	e    float64
}

func testFields() *Fields[row] {
	return &Fields[row]{
		List: []Field[row]{
			{Name: "name", Header: "NAME", Get: func(r row) Cell { return Text(r.name) }},
			{Name: "energy_j", Header: "ENERGY", Get: func(r row) Cell { return Number(r.e, Joules(r.e)) }},
			{Name: "a", Header: "A", Drop: 10, Get: func(r row) Cell { return Text("aaaaaaaa") }},
			{Name: "b", Header: "B", Drop: 20, Get: func(r row) Cell { return Text("bbbbbbbb") }},
			{Name: "empty", Header: "EMPTY", Drop: 5, Get: func(r row) Cell { return None }},
			{Name: "x0", Header: "X0", Drop: 30, Get: func(r row) Cell { return Text("x0") }},
			{Name: "x1", Header: "X1", Drop: 30, Get: func(r row) Cell { return Text("x1") }},
		},
		Named: map[string]string{"default": "{name:<6} {energy_j:>8}"},
	}
}

func TestFormatString(t *testing.T) {
	rows := []row{{"n1", 12400}, {"n2", 873}}
	f, err := testFields().Parse("{name:<6} {energy_j:>8} {energy_j:.1f} {{lit}}")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(f.Lines(rows, Options{}), "\n")
	want := "NAME     ENERGY ENERGY {lit}\n" +
		"n1      12.4 kJ 12400.0 {lit}\n" +
		"n2        873 J 873.0 {lit}"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := f.Lines(rows, Options{NoHeader: true}); len(got) != 2 || !strings.HasPrefix(got[0], "n1") {
		t.Errorf("no header: %q", got)
	}
	// named
	f, err = testFields().Parse("default")
	if err != nil || strings.Join(f.Lines(rows[:1], Options{}), "|") != "NAME     ENERGY|n1      12.4 kJ" {
		t.Errorf("named: %v %q", err, f.Lines(rows[:1], Options{}))
	}
	// patterns expand in the order of the fields
	f, err = testFields().Parse("{name} {x*}")
	if err != nil || f.Lines(rows[:1], Options{})[1] != "n1 x0 x1" {
		t.Errorf("pattern: %v %q", err, f.Lines(rows[:1], Options{}))
	}
	// "?:" drops a column empty in every row
	f, _ = testFields().Parse("{name} {?:empty} {energy_j}")
	if got := f.Lines(rows[:1], Options{}); got[1] != "n1 12.4 kJ" {
		t.Errorf("?: %q", got)
	}
	for _, bad := range []string{"{nope}", "{name", "name}", "plain text", "{:>5}", "{name:10q}"} {
		if _, err := testFields().Parse(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := testFields().Parse("{nope}"); err == nil || !strings.Contains(err.Error(), `unknown field "nope"`) {
		t.Errorf("unknown field: %v", err)
	}
}

// TestFit: on a terminal the columns drop whole, highest Drop first and
// the rightmost of equals first, until the lines fit; what never drops is
// printed whole; without a width nothing is cut.
func TestFit(t *testing.T) {
	rows := []row{{"n1", 12400}}
	f, _ := testFields().Parse("{name:<6} {energy_j:>8} {a} {b} {x0} {x1}")
	full := f.Lines(rows, Options{})
	if full[1] != "n1      12.4 kJ aaaaaaaa bbbbbbbb x0 x1" {
		t.Fatalf("full %q", full)
	}
	for _, c := range []struct {
		width int
		want  string
	}{
		{200, "n1      12.4 kJ aaaaaaaa bbbbbbbb x0 x1"},
		{36, "n1      12.4 kJ aaaaaaaa bbbbbbbb x0"}, // x1 first: the rightmost of the highest
		{34, "n1      12.4 kJ aaaaaaaa bbbbbbbb"},
		{31, "n1      12.4 kJ aaaaaaaa"},
		{20, "n1      12.4 kJ"},
		{5, "n1      12.4 kJ"}, // never cut
	} {
		got := f.Lines(rows, Options{Width: c.width})
		if got[1] != c.want {
			t.Errorf("width %d: %q, want %q", c.width, got[1], c.want)
		}
		for _, l := range got {
			if c.width >= 16 && len([]rune(l)) > c.width {
				t.Errorf("width %d: line %q too wide", c.width, l)
			}
		}
	}
}

func TestWrap(t *testing.T) {
	got := Wrap("rank 0: shared: charged its GPU 1 whole and its 4 of 8 cores", 20, "    ")
	want := []string{"rank 0: shared:", "    charged its GPU", "    1 whole and its", "    4 of 8 cores"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%q", got)
	}
	if got := Wrap("a b c", 0, ""); len(got) != 1 {
		t.Errorf("no width %q", got)
	}
}

func TestSpan(t *testing.T) {
	a := time.Date(2026, 12, 7, 1, 55, 58, 0, time.UTC)
	for _, c := range []struct {
		b    time.Time
		want string
	}{
		{a.Add(time.Minute), "2026-12-07 01:55:58 to 01:56:58"},
		{a.Add(24 * time.Hour), "2026-12-07 01:55:58 to 2026-12-08 01:55:58"},
		{time.Time{}, "2026-12-07 01:55:58 to -"},
	} {
		if got := Span(a, c.b); got != c.want {
			t.Errorf("Span(%v, %v) = %q, want %q", a, c.b, got, c.want)
		}
	}
}

// Unix is to the microsecond, rounded: .1 prints .100, not .099; 0 is no
// time.
func TestUnix(t *testing.T) {
	if got := Unix(1764950400.1, time.UTC).Format("15:04:05.000"); got != "16:00:00.100" {
		t.Fatalf("Unix(1764950400.1) = %s", got)
	}
	if !Unix(0, time.UTC).IsZero() || !Unix(-1, time.UTC).IsZero() {
		t.Fatal("Unix of 0 or less is the zero time")
	}
}
