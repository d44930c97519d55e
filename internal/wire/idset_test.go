// SPDX-License-Identifier: LGPL-3.0-only

package wire

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseIDSet(t *testing.T) {
	for in, want := range map[string][]uint32{
		"":              {},
		"[]":            {},
		"0":             {0},
		"0-3":           {0, 1, 2, 3},
		"0-3,5,7-9":     {0, 1, 2, 3, 5, 7, 8, 9},
		"[1-2]":         {1, 2},
		"5,3,4":         {3, 4, 5},
		"0-3,2":         {0, 1, 2, 3},
		"4294967294":    {4294967294},
		"10-11,100-101": {10, 11, 100, 101},
	} {
		got, err := ParseIDSet(in)
		if err != nil {
			t.Errorf("ParseIDSet(%q): %v", in, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ParseIDSet(%q) = %v, want %v", in, got, want)
		}
	}
	for _, in := range []string{"a", "1,", ",1", "1-", "-1", "3-1", " 1", "1 ", "+1", "1--2", "4294967295", "0-4294967294", "[1", "1]", "1-2-3"} {
		if got, err := ParseIDSet(in); err == nil {
			t.Errorf("ParseIDSet(%q) = %v, want an error", in, got)
		} else if !strings.Contains(err.Error(), "invalid idset") {
			t.Errorf("ParseIDSet(%q): error %q does not say what is wrong", in, err)
		}
	}
}

// TestFormatIDSet: the encoding of libflux's idset_encode with
// IDSET_FLAG_RANGE (checked with flux python's IDset: "3,5,6,8" is
// printed "3,5-6,8"), and a round trip through ParseIDSet.
func TestFormatIDSet(t *testing.T) {
	for want, ids := range map[string][]uint32{
		"":          nil,
		"0":         {0},
		"0-3":       {0, 1, 2, 3},
		"3,5-6,8":   {3, 5, 6, 8},
		"0-3,5,7-9": {0, 1, 2, 3, 5, 7, 8, 9},
	} {
		if got := FormatIDSet(ids); got != want {
			t.Errorf("FormatIDSet(%v) = %q, want %q", ids, got, want)
		}
		back, err := ParseIDSet(want)
		if err != nil || len(back) != len(ids) || (len(ids) > 0 && !reflect.DeepEqual(back, ids)) {
			t.Errorf("ParseIDSet(%q) = %v, %v; want %v", want, back, err, ids)
		}
	}
}
