// SPDX-License-Identifier: LGPL-3.0-only

package account

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseWhen reads a point in time as `flux jobs --since` does
// (flux.util.parse_datetime, then seconds since the epoch), in now's time
// zone:
//
//	now, today, yesterday, tomorrow   (the last three at midnight)
//	-1h, +30m, -2d, -90s, -1.5h       now plus or minus a Flux Standard Duration
//	2026-01-05                        midnight of that day
//	2026-01-05 10:30, 2026-01-05 10:30:15, 2026-01-05T10:30:15
//	10:30, 10:30:15                   that time today
//	2026-01-05T10:30:15Z, 2026-01-05T10:30:15+01:00   RFC 3339
//	1767607815, 1767607815.25         seconds since the epoch
//
// A bare date is its midnight, where parse_datetime keeps the time of day
// of now: a report from a day must count the whole day.
func ParseWhen(s string, now time.Time) (time.Time, error) {
	loc := now.Location()
	t := strings.TrimSpace(s)
	midnight := func(d time.Time) time.Time {
		y, m, day := d.Date()
		return time.Date(y, m, day, 0, 0, 0, 0, loc)
	}
	switch strings.ToLower(t) {
	case "now":
		return now, nil
	case "today":
		return midnight(now), nil
	case "yesterday":
		return midnight(now).AddDate(0, 0, -1), nil
	case "tomorrow":
		return midnight(now).AddDate(0, 0, 1), nil
	}
	if len(t) > 1 && (t[0] == '-' || t[0] == '+') {
		d, err := ParseFSD(t[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid time %q: %v", s, err)
		}
		if t[0] == '-' {
			d = -d
		}
		return now.Add(d), nil
	}
	if v, err := strconv.ParseFloat(t, 64); err == nil && v >= 0 && !math.IsInf(v, 0) {
		sec, frac := math.Modf(v)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))).In(loc), nil
	}
	if v, err := time.Parse(time.RFC3339Nano, t); err == nil {
		return v.In(loc), nil
	}
	for _, layout := range []string{
		"2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999",
	} {
		if v, err := time.ParseInLocation(layout, t, loc); err == nil {
			return v, nil
		}
	}
	for _, layout := range []string{"15:04", "15:04:05"} {
		if v, err := time.ParseInLocation(layout, t, loc); err == nil {
			y, m, d := now.Date()
			return time.Date(y, m, d, v.Hour(), v.Minute(), v.Second(), 0, loc), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q: give now, today, yesterday, an offset (-1h, -2d, -30m), YYYY-MM-DD[ HH:MM[:SS]], RFC 3339 or seconds since the epoch", s)
}

// ParseFSD reads an RFC 23 Flux Standard Duration: a non-negative number
// with an optional unit, ms, s (the default), m, h or d.
func ParseFSD(s string) (time.Duration, error) {
	num, unit := s, 1.0
	for _, u := range []struct {
		suffix string
		sec    float64
	}{{"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}} {
		if strings.HasSuffix(s, u.suffix) {
			num, unit = strings.TrimSuffix(s, u.suffix), u.sec
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	// ParseFloat takes "inf", "nan" and hex floats: an offset is a plain
	// decimal number
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || strings.ContainsAny(num, "xXpPnN") || num == "" {
		return 0, fmt.Errorf("%q is not a duration (a number with ms, s, m, h or d)", s)
	}
	sec := v * unit
	if sec > 36500*86400 { // a time.Duration holds 292 years
		return 0, fmt.Errorf("%q is too long a duration (at most 36500d)", s)
	}
	return time.Duration(math.Round(sec * 1e9)), nil
}
