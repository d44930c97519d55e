// SPDX-License-Identifier: LGPL-3.0-only

package wire

import (
	"fmt"
	"strconv"
	"strings"
)

// maxIDSetSize bounds how many ids ParseIDSet expands, so that a range such
// as "0-2147483647" in a bad R is an error and not gigabytes of memory. No
// node has this many cores or GPUs, nor an instance this many ranks.
const maxIDSetSize = 1 << 20

// maxID is the largest id libflux's idset_decode takes (INT_MAX).
const maxID = 1<<31 - 1

// ParseIDSet expands an RFC 22 idset ("0-3,5,7-9", optionally in square
// brackets; "" is the empty set) into its ids, in ascending order, by the
// rule of libflux's idset_decode (fluxbind's tests hold it to libflux on
// the same cases): parts in ascending order without overlap, a range's
// end above its start, ids up to 2^31-1, empty parts ignored. The count is
// checked against the limit (2^20 ids) before a range is expanded. It is
// the only idset decoder of the module and the commands (doc/architecture.md).
func ParseIDSet(s string) ([]uint32, error) {
	body := s
	if strings.HasPrefix(body, "[") && strings.HasSuffix(body, "]") {
		body = body[1 : len(body)-1]
	}
	out := []uint32{}
	next := uint64(0) // the least id the next part may start with
	for _, part := range strings.Split(body, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parseID(lo)
		if err != nil {
			return nil, fmt.Errorf("invalid idset %q: %v", s, err)
		}
		b := a
		if isRange {
			if b, err = parseID(hi); err != nil {
				return nil, fmt.Errorf("invalid idset %q: %v", s, err)
			}
			if b <= a {
				return nil, fmt.Errorf("invalid idset %q: range %s does not go up", s, part)
			}
		}
		if uint64(a) < next {
			return nil, fmt.Errorf("invalid idset %q: %s is out of order or repeats an id", s, part)
		}
		if uint64(b-a)+1+uint64(len(out)) > maxIDSetSize {
			return nil, fmt.Errorf("invalid idset %q: more than %d ids", s, maxIDSetSize)
		}
		for id := a; ; id++ {
			out = append(out, id)
			if id == b {
				break
			}
		}
		next = uint64(b) + 1
	}
	return out, nil
}

// parseID is one id of an idset: a decimal number up to 2^31-1, without
// sign or spaces.
func parseID(s string) (uint32, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("%q is not an id", s)
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > maxID {
		return 0, fmt.Errorf("%q is not an id", s)
	}
	return uint32(n), nil
}

// FormatIDSet prints sorted, distinct ids as an RFC 22 idset, runs of two or
// more consecutive ids as ranges ("0-3,5,7-8"), as libflux's idset_encode
// with IDSET_FLAG_RANGE does; "" for none.
func FormatIDSet(ids []uint32) string {
	var b strings.Builder
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(ids[i]), 10))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.FormatUint(uint64(ids[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}
