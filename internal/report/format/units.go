// SPDX-License-Identifier: LGPL-3.0-only

package format

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Human prints v with three significant digits (two where v is 100 to 999
// rounds to a whole number) and the largest SI prefix of unit that keeps
// it at 1 or more: Human(12400, "J") is "12.4 kJ", Human(514, "W") "514 W",
// Human(0.5, "W") "0.50 W". At most 7 characters for units of one letter
// below 1000 P (and the column widths of the named formats count on it).
func Human(v float64, unit string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	prefixes := []string{"", "k", "M", "G", "T", "P"}
	a := math.Abs(v)
	p := 0
	for p < len(prefixes)-1 && round3(a/math.Pow(1000, float64(p))) >= 1000 {
		p++
	}
	x := v / math.Pow(1000, float64(p))
	return sig3(x) + " " + prefixes[p] + unit
}

// round3 is |x| rounded to three significant digits.
func round3(x float64) float64 {
	if x == 0 {
		return 0
	}
	d := math.Ceil(math.Log10(x))
	pow := math.Pow(10, 3-d)
	return math.Round(x*pow) / pow
}

// sig3 prints x with three significant digits, in fixed notation.
func sig3(x float64) string {
	a := round3(math.Abs(x))
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
	// below 1: as many decimals as three significant digits take
	return strconv.FormatFloat(x, 'f', 2-int(math.Floor(math.Log10(a))), 64)
}

// Sig3 prints v with three significant digits, in fixed notation
// ("0.00135", "12.4", "1235" for 1234.6: whole numbers stay whole).
func Sig3(v float64) string { return sig3(v) }

// Joules prints energy in human units (J, kJ, MJ, GJ).
func Joules(j float64) string { return Human(j, "J") }

// Watts prints power in human units (W, kW, MW).
func Watts(w float64) string { return Human(w, "W") }

// KWh prints joules in kilowatt-hours, as reports count energy: three
// significant digits up to 999 kWh, then whole kWh with thousands
// separated ("12,345 kWh").
func KWh(j float64) string {
	k := j / 3.6e6
	if round3(math.Abs(k)) < 1000 {
		return sig3(k) + " kWh"
	}
	return group(strconv.FormatFloat(k, 'f', 0, 64), ',') + " kWh"
}

// Percent prints a fraction (0.953) as a whole percentage ("95%").
func Percent(f float64) string {
	return strconv.FormatFloat(math.Round(f*100), 'f', 0, 64) + "%"
}

// Seconds prints a duration in seconds with its scale ("12.3 s",
// "2h03m").
func Seconds(s float64) string {
	switch {
	case s < 60:
		return sig3(s) + " s"
	case s < 3600:
		m := math.Floor(s / 60)
		return strconv.FormatFloat(m, 'f', 0, 64) + "m" + pad2(math.Floor(s-60*m)) + "s"
	}
	h := math.Floor(s / 3600)
	return strconv.FormatFloat(h, 'f', 0, 64) + "h" + pad2(math.Floor((s-3600*h)/60)) + "m"
}

func pad2(v float64) string {
	s := strconv.FormatFloat(v, 'f', 0, 64)
	if len(s) < 2 {
		s = "0" + s
	}
	return s
}

// Unix is t, unix seconds as the module gives them, in loc, to the
// microsecond (a float64 of unix seconds holds no more, and 1764950400.1
// must not print as .099); the zero time for t <= 0 (not known).
func Unix(t float64, loc *time.Location) time.Time {
	if t <= 0 {
		return time.Time{}
	}
	sec, frac := math.Modf(t)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1000).In(loc)
}

// Span prints a time interval for a title line, "2026-12-07 01:55:58 to
// 01:56:58", the end's date given only where it is another day; "-" for a
// time not known (zero).
func Span(start, end time.Time) string {
	at := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format("2006-01-02 15:04:05")
	}
	a, b := at(start), at(end)
	if len(a) > 10 && len(b) > 10 && a[:10] == b[:10] {
		b = b[11:]
	}
	return a + " to " + b
}

// Wrap breaks text into lines of at most width characters at spaces, the
// lines after the first indented; width 0 leaves it whole. A word longer
// than the width stays whole on its line.
func Wrap(text string, width int, indent string) []string {
	if width <= 0 || len([]rune(text)) <= width {
		return []string{text}
	}
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		switch {
		case line == "":
			line = word
		case len([]rune(line))+1+len([]rune(word)) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = indent + word
		}
	}
	return append(lines, line)
}
