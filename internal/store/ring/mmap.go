// SPDX-License-Identifier: LGPL-3.0-only

package ring

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The ring's arrays live outside the Go heap, in anonymous memory mapped
// for them: the collector neither scans them (they hold no pointers) nor
// counts them toward its goal, so a large ring does not make the heap's
// next collection wait for twice its size (GOGC), and what a rank holds is
// the ring plus a heap of a few MB. The pages are committed when mapped
// (MAP_POPULATE), so the memory a rank holds is the full ring's from the
// first sample on, not a figure that grows for days.

// mapping is one array's memory; nil b: none.
type mapping struct {
	b    []byte
	heap bool // mmap failed: b is on the Go heap
}

// mapped allocates n elements of T in memory mapped for them, zeroed and
// committed. If mmap fails (no address space, a locked limit) the array
// is made on the Go heap, as before, rather than not sampling.
func mapped[T int64 | float32 | float64](n int) ([]T, mapping) {
	if n <= 0 {
		return nil, mapping{}
	}
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		s := make([]T, n)
		return s, mapping{heap: true, b: unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), size)}
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n), mapping{b: b}
}

// unmap releases m; it is then empty.
func (m *mapping) unmap() error {
	b, heap := m.b, m.heap
	*m = mapping{}
	if b == nil || heap {
		return nil
	}
	if err := unix.Munmap(b); err != nil {
		return fmt.Errorf("ring: munmap %d bytes: %w", len(b), err)
	}
	return nil
}

// mappings are a store's arrays' memory, apart from the Store so that a
// cleanup can release them when a Store is dropped without Close.
type mappings struct {
	times, vals, energy mapping
}

func (ms *mappings) unmap() error {
	var first error
	for _, m := range []*mapping{&ms.times, &ms.vals, &ms.energy} {
		if err := m.unmap(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
