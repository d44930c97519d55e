// SPDX-License-Identifier: LGPL-3.0-only

package wire

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// Floats writes numbers exactly as encoding/json does, and reads back
// every one exactly; null is NaN both ways.
func TestFloatsRoundTrip(t *testing.T) {
	values := []float64{0, 1, -1, 0.1, 2.0360157, 8.958469080000001, 1e-7, 1.5e-9, 123456789.123,
		1e20, 1e21, 1.7976931348623157e308, 5e-324, math.Copysign(0, -1), 440, 0.0203601571 * 1.0000012345678}
	for _, v := range values {
		want, _ := json.Marshal(v)
		got, err := json.Marshal(Floats{v})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "["+string(want)+"]" {
			t.Errorf("%v: Floats writes %s, encoding/json %s", v, got, want)
		}
	}
	in := append(Floats{math.NaN()}, values...)
	out, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "[null,") {
		t.Errorf("NaN written as %s", out)
	}
	var back Floats
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != len(in) || !math.IsNaN(back[0]) {
		t.Fatalf("read back %v from %s", back, out)
	}
	for i := 1; i < len(in); i++ {
		if back[i] != in[i] || math.Signbit(back[i]) != math.Signbit(in[i]) {
			t.Errorf("item %d: %v read back as %v", i, in[i], back[i])
		}
	}
}

func TestFloatsRead(t *testing.T) {
	for in, want := range map[string]string{
		`[]`:                     `[]`,
		` [ 1 , null ,2.5e3 ] `:  `[1,null,2500]`,
		"[\n\t-0.5,\r\n1E2]":     `[-0.5,100]`,
		`null`:                   `null`,
		`{"a": [null, 1, null]}`: `{"a":[null,1,null]}`,
	} {
		var v any = new(Floats)
		if strings.HasPrefix(in, "{") {
			v = new(map[string]Floats)
		}
		if err := json.Unmarshal([]byte(in), v); err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		out, _ := json.Marshal(v)
		if string(out) != want {
			t.Errorf("%s read as %s, want %s", in, out, want)
		}
	}
	// Anything but numbers and nulls in an array is refused.
	for _, in := range []string{`[1,"2"]`, `[true]`, `[[1,2]]`, `[{}]`, `{}`, `"1"`, `[1e999]`, `[1,2`} {
		var f Floats
		if err := json.Unmarshal([]byte(in), &f); err == nil {
			t.Errorf("%s read as %v", in, f)
		}
	}
	if _, err := json.Marshal(Floats{1, math.Inf(1)}); err == nil {
		t.Errorf("an infinite value written")
	}
}
