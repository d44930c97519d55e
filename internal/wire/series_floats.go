// SPDX-License-Identifier: LGPL-3.0-only

package wire

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Floats is an array of numbers on the wire, where null stands for NaN
// (a value not measured). It reads and writes itself without reflection:
// a series' columns are most of what a rank sends.
type Floats []float64

// MarshalJSON writes the numbers as JSON does (shortest form that reads
// back the same), NaN as null. An infinite value is an error, as it is for
// encoding/json.
func (f Floats) MarshalJSON() ([]byte, error) {
	if f == nil {
		return []byte("null"), nil
	}
	b := make([]byte, 0, 2+12*len(f))
	b = append(b, '[')
	for i, v := range f {
		if i > 0 {
			b = append(b, ',')
		}
		switch {
		case math.IsNaN(v):
			b = append(b, "null"...)
		case math.IsInf(v, 0):
			return nil, fmt.Errorf("item %d of an array is infinite", i)
		default:
			b = appendFloat(b, v)
		}
	}
	return append(b, ']'), nil
}

// appendFloat writes v as encoding/json does.
func appendFloat(b []byte, v float64) []byte {
	abs := math.Abs(v)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, v, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

var errFloats = errors.New("not an array of numbers and nulls")

// UnmarshalJSON reads an array of numbers and nulls (null: NaN), or null
// (no array).
func (f *Floats) UnmarshalJSON(data []byte) error {
	i := skipSpace(data, 0)
	if i+4 <= len(data) && string(data[i:i+4]) == "null" {
		*f = nil
		return nil
	}
	if i >= len(data) || data[i] != '[' {
		return errFloats
	}
	out := make(Floats, 0, len(data)/10)
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		*f = out
		return nil
	}
	for {
		j := i
		for j < len(data) && data[j] != ',' && data[j] != ']' && !isSpace(data[j]) {
			j++
		}
		item := data[i:j]
		if string(item) == "null" {
			out = append(out, math.NaN())
		} else {
			if len(item) == 0 || !(item[0] == '-' || item[0] >= '0' && item[0] <= '9') {
				return errFloats
			}
			v, err := strconv.ParseFloat(string(item), 64)
			if err != nil {
				return fmt.Errorf("%w: %v", errFloats, err)
			}
			out = append(out, v)
		}
		i = skipSpace(data, j)
		if i >= len(data) {
			return errFloats
		}
		if data[i] == ']' {
			break
		}
		if data[i] != ',' {
			return errFloats
		}
		i = skipSpace(data, i+1)
	}
	*f = out
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}
