// SPDX-License-Identifier: LGPL-3.0-only

package wire

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// idsetCases reads testdata/idsets.json: each idset and its ids, nil for
// one that must be refused.
func idsetCases(t *testing.T) map[string][]uint32 {
	t.Helper()
	b, err := os.ReadFile("testdata/idsets.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases map[string][]uint32 `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Cases) < 10 {
		t.Fatalf("testdata/idsets.json: %v", err)
	}
	return doc.Cases
}

func TestParseIDSet(t *testing.T) {
	for in, want := range idsetCases(t) {
		got, err := ParseIDSet(in)
		switch {
		case want == nil && err == nil:
			t.Errorf("ParseIDSet(%q) = %v, want an error", in, got)
		case want == nil && !strings.Contains(err.Error(), "invalid idset"):
			t.Errorf("ParseIDSet(%q): error %q does not say what is wrong", in, err)
		case want != nil && err != nil:
			t.Errorf("ParseIDSet(%q): %v", in, err)
		case want != nil && !reflect.DeepEqual(got, want):
			t.Errorf("ParseIDSet(%q) = %v, want %v", in, got, want)
		}
	}
	// the limit is checked before expanding
	if _, err := ParseIDSet("0-2147483647"); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("a huge range: %v", err)
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
