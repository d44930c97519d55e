// SPDX-License-Identifier: LGPL-3.0-only

package wire

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// maxIDSetSize bounds how many ids ParseIDSet expands, so that a range such
// as "0-4294967294" in a bad R is an error and not gigabytes of memory. No
// node has this many cores or GPUs.
const maxIDSetSize = 1 << 20

// ParseIDSet expands an RFC 22 idset ("0-3,5,7-9", optionally in square
// brackets; "" is the empty set) into its ids, sorted and without
// duplicates. Parts out of order or overlapping are accepted (libflux
// rejects them; R from flux-core never has them). fluxbind.DecodeIDSet does the same through libflux; this one
// needs no broker, so the protocol and its tests are pure Go.
func ParseIDSet(s string) ([]uint32, error) {
	body := s
	if strings.HasPrefix(body, "[") && strings.HasSuffix(body, "]") {
		body = body[1 : len(body)-1]
	}
	if body == "" {
		return []uint32{}, nil
	}
	seen := map[uint32]bool{}
	for _, part := range strings.Split(body, ",") {
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
			if b < a {
				return nil, fmt.Errorf("invalid idset %q: range %s ends before it starts", s, part)
			}
		}
		if uint64(b-a)+1+uint64(len(seen)) > maxIDSetSize {
			return nil, fmt.Errorf("invalid idset %q: more than %d ids", s, maxIDSetSize)
		}
		for id := a; ; id++ {
			seen[id] = true
			if id == b {
				break
			}
		}
	}
	out := make([]uint32, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// parseID is one id of an idset: a decimal number below 2^32-1 (libflux's
// IDSET_INVALID_ID), without sign or spaces.
func parseID(s string) (uint32, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("%q is not an id", s)
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 1<<32-1 {
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
