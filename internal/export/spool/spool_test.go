// SPDX-License-Identifier: LGPL-3.0-only

package spool

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rec is record i: 9 bytes, a 10-byte line, so that a SegmentBytes of 100
// holds exactly 10 records.
func rec(i int) []byte { return []byte(fmt.Sprintf("r%08d", i)) }

func recNum(t testing.TB, b []byte) int {
	t.Helper()
	if len(b) < 2 || b[0] != 'r' {
		t.Fatalf("unexpected record %q", b)
	}
	n, err := strconv.Atoi(string(b[1:]))
	if err != nil {
		t.Fatalf("unexpected record %q", b)
	}
	return n
}

func open(t testing.TB, o Options) *Spool {
	t.Helper()
	s, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendRange(t testing.TB, s *Spool, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := s.Append(rec(i)); err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
	}
}

// peekNums peeks and returns the record numbers.
func peekNums(t testing.TB, s *Spool, max, maxBytes int) []int {
	t.Helper()
	recs, err := s.Peek(max, maxBytes)
	if err != nil {
		t.Fatalf("Peek: %v", err)
	}
	nums := make([]int, len(recs))
	for i, r := range recs {
		nums[i] = recNum(t, r)
	}
	return nums
}

// drain peeks and acks everything, and returns the record numbers.
func drain(t testing.TB, s *Spool, batch int) []int {
	t.Helper()
	var all []int
	for {
		nums := peekNums(t, s, batch, 0)
		if len(nums) == 0 {
			return all
		}
		all = append(all, nums...)
		if err := s.Ack(len(nums)); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
}

func wantRange(t testing.TB, got []int, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Fatalf("got %d records (%v...), want %d..%d", len(got), head(got), from, to-1)
	}
	for i, n := range got {
		if n != from+i {
			t.Fatalf("record %d is %d, want %d (got %v...)", i, n, from+i, head(got))
		}
	}
}

func head(n []int) []int {
	if len(n) > 12 {
		return n[:12]
	}
	return n
}

func wantStats(t testing.TB, s *Spool, want Stats) {
	t.Helper()
	got := s.Stats()
	want.Bytes = got.Bytes // checked by diskBytes
	// the write calls and bytes: TestAppendBatch
	want.Writes, want.Written = got.Writes, got.Written
	if got != want {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
	if d := diskBytes(t, s.dir); d != got.Bytes {
		t.Fatalf("Stats.Bytes = %d, segment files hold %d", got.Bytes, d)
	}
}

// segFiles lists the segment files in dir.
func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func diskBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	for _, f := range segFiles(t, dir) {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

func TestAppendPeekAckOrder(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir, MaxBytes: 1 << 20, SegmentBytes: 4096})
	const n = 1000
	appendRange(t, s, 0, n)
	wantStats(t, s, Stats{Pending: n, Appended: n})
	if s.Stats().Bytes != n*10 {
		t.Fatalf("Bytes = %d, want %d", s.Stats().Bytes, n*10)
	}
	if len(segFiles(t, dir)) < 3 {
		t.Fatalf("%d segments, want several", len(segFiles(t, dir)))
	}

	// Peek does not advance.
	wantRange(t, peekNums(t, s, 5, 0), 0, 5)
	wantRange(t, peekNums(t, s, 7, 0), 0, 7)
	// maxBytes: 9-byte records, 30 bytes: 3 records (27), not 4 (36).
	wantRange(t, peekNums(t, s, 100, 30), 0, 3)
	// At least one record, even over maxBytes.
	wantRange(t, peekNums(t, s, 100, 5), 0, 1)

	next := 0
	for next < n {
		nums := peekNums(t, s, 37, 0)
		wantRange(t, nums, next, min(next+37, n))
		// Acknowledge in two steps: Ack takes the next records of the Peek.
		k := len(nums) / 3
		if err := s.Ack(k); err != nil {
			t.Fatal(err)
		}
		if err := s.Ack(len(nums) - k); err != nil {
			t.Fatal(err)
		}
		next += len(nums)
		wantStats(t, s, Stats{Pending: uint64(n - next), Appended: n, Acked: uint64(next)})
	}
	if recs, err := s.Peek(10, 0); recs != nil || err != nil {
		t.Fatalf("Peek on empty spool = %v, %v; want nil, nil", recs, err)
	}
	if err := s.Ack(1); err == nil {
		t.Fatal("Ack(1) after an empty Peek: no error")
	}
	// Consumed segments are gone; the newest stays for appending.
	if f := segFiles(t, dir); len(f) != 1 {
		t.Fatalf("segments left: %v, want 1", f)
	}
	// Appends go on after a full drain.
	appendRange(t, s, n, n+50)
	wantRange(t, drain(t, s, 16), n, n+50)
	wantStats(t, s, Stats{Appended: n + 50, Acked: n + 50})
}

// TestAppendBatch: a batch is one write(2) a segment it goes into, the
// records in order; invalid ones are skipped and said.
func TestAppendBatch(t *testing.T) {
	dir := t.TempDir()
	// 10-byte lines: a 4096-byte segment takes 409, so the rotations, at
	// records 409 and 818, fall inside the batches of 37 (409 = 11*37 + 2,
	// 818 = 22*37 + 4): 28 batches, 30 writes.
	s := open(t, Options{Dir: dir, MaxBytes: 1 << 20, SegmentBytes: 4096})
	const n, batch = 1000, 37
	for from := 0; from < n; from += batch {
		var recs [][]byte
		for i := from; i < min(from+batch, n); i++ {
			recs = append(recs, rec(i))
		}
		if got, err := s.AppendBatch(recs); got != len(recs) || err != nil {
			t.Fatalf("AppendBatch(%d..) = %d, %v; want %d, nil", from, got, err, len(recs))
		}
	}
	st := s.Stats()
	if st.Appended != n || st.Writes != 30 || st.Written != n*10 {
		t.Fatalf("Stats = %+v, want %d appended in 30 writes of %d bytes in all", st, n, n*10)
	}
	if f := segFiles(t, dir); len(f) != 3 {
		t.Fatalf("segments %v, want 3", f)
	}
	wantRange(t, drain(t, s, 100), 0, n)

	// Invalid records are skipped, the others go in one write, in order.
	recs := [][]byte{rec(n), nil, rec(n + 1), []byte("a\nb"), rec(n + 2), bytes.Repeat([]byte("x"), 4097), rec(n + 3)}
	got, err := s.AppendBatch(recs)
	if got != 4 || err == nil || err.Error() != "spool: append: empty record" {
		t.Fatalf("AppendBatch with invalid records = %d, %v; want 4 and the first record's error", got, err)
	}
	if st := s.Stats(); st.Writes != 31 || st.Appended != n+4 {
		t.Fatalf("Stats = %+v, want one more write and 4 more records", st)
	}
	wantRange(t, drain(t, s, 100), n, n+4)

	// An empty batch writes nothing and signals nothing.
	select {
	case <-s.Ready():
	default:
	}
	if got, err := s.AppendBatch(nil); got != 0 || err != nil {
		t.Fatalf("AppendBatch(nil) = %d, %v", got, err)
	}
	select {
	case <-s.Ready():
		t.Fatal("Ready signalled by an empty batch")
	default:
	}
	if st := s.Stats(); st.Writes != 31 {
		t.Fatalf("Writes = %d after an empty batch, want 31", st.Writes)
	}
}

func TestPeekAckErrors(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir(), MaxBytes: 10000, SegmentBytes: 100})
	if _, err := s.Peek(0, 0); err == nil {
		t.Error("Peek(0): no error")
	}
	appendRange(t, s, 0, 5)
	wantRange(t, peekNums(t, s, 3, 0), 0, 3)
	if err := s.Ack(4); err == nil {
		t.Error("Ack(4) after a Peek of 3: no error")
	}
	if err := s.Ack(-1); err == nil {
		t.Error("Ack(-1): no error")
	}
	if err := s.Ack(0); err != nil {
		t.Errorf("Ack(0): %v", err)
	}
	if err := s.Ack(2); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(2); err == nil {
		t.Error("Ack(2) with 1 record of the Peek left: no error")
	}
	if err := s.Ack(1); err != nil {
		t.Fatal(err)
	}
	wantStats(t, s, Stats{Pending: 2, Appended: 5, Acked: 3})
	wantRange(t, drain(t, s, 10), 3, 5)
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, MaxBytes: 10000, SegmentBytes: 100}
	s := open(t, o)
	appendRange(t, s, 0, 55)
	wantRange(t, peekNums(t, s, 23, 0), 0, 23) // across segments
	if err := s.Ack(23); err != nil {
		t.Fatal(err)
	}
	wantRange(t, peekNums(t, s, 10, 0), 23, 33)
	if err := s.Ack(4); err != nil { // partly
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Append(rec(99)); err == nil {
		t.Fatal("Append after Close: no error")
	}
	if _, err := s.Peek(1, 0); err == nil {
		t.Fatal("Peek after Close: no error")
	}

	s = open(t, o)
	wantStats(t, s, Stats{Pending: 55 - 27})
	// Segments holding only acknowledged records are gone: 27..29 are in
	// the third segment, which is now the oldest.
	if f := segFiles(t, dir); len(f) != 4 || !strings.HasSuffix(f[0], "0000000000000003.seg") {
		t.Fatalf("segments %v, want 3..6", f)
	}
	wantRange(t, peekNums(t, s, 1000, 0), 27, 55) // no Ack: stays pending
	appendRange(t, s, 55, 61)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, o)
	wantStats(t, s, Stats{Pending: 61 - 27})
	wantRange(t, drain(t, s, 7), 27, 61)
	wantStats(t, s, Stats{Appended: 0, Acked: 61 - 27})
	s.Close()

	s = open(t, o)
	wantStats(t, s, Stats{})
	if recs, err := s.Peek(10, 0); recs != nil || err != nil {
		t.Fatalf("Peek = %v, %v; want nil, nil", recs, err)
	}
	// New records after a drained reopen.
	appendRange(t, s, 100, 105)
	s.Close()
	s = open(t, o)
	wantRange(t, drain(t, s, 10), 100, 105)
}

func TestReopenAtSegmentBoundary(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, MaxBytes: 10000, SegmentBytes: 100}
	s := open(t, o)
	appendRange(t, s, 0, 20) // exactly two full segments
	wantRange(t, peekNums(t, s, 10, 0), 0, 10)
	if err := s.Ack(10); err != nil {
		t.Fatal(err)
	}
	// The first segment is consumed: gone at once.
	wantStats(t, s, Stats{Pending: 10, Appended: 20, Acked: 10})
	if f := segFiles(t, dir); len(f) != 1 || s.Stats().Bytes != 100 {
		t.Fatalf("segments %v, %d bytes; want the second only", f, s.Stats().Bytes)
	}
	s.Close()
	s = open(t, o)
	wantStats(t, s, Stats{Pending: 10})
	appendRange(t, s, 20, 25)
	wantRange(t, drain(t, s, 3), 10, 25)
}

func writeCursorFile(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "cursor"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The cursor is rewritten in place (the same file, one fixed-width line),
// also over an earlier version's cursor of another width, and read back.
func TestCursorInPlace(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, MaxBytes: 1 << 20, SegmentBytes: 4096}
	s := open(t, o)
	appendRange(t, s, 0, 10)
	s.Close()
	// an earlier version's cursor, longer than ours, still at the start
	writeCursorFile(t, dir, "1 0"+strings.Repeat(" ", 60)+"\n")
	s = open(t, o)
	path := filepath.Join(dir, "cursor")
	inode := func() uint64 {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Sys().(*syscall.Stat_t).Ino
	}
	ino := inode()
	for _, k := range []int{4, 3} {
		if _, err := s.Peek(k, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Ack(k); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%020d %020d\n", 1, 70); string(b) != want || inode() != ino {
		t.Fatalf("cursor %q (inode %d, was %d), want %q in the same file", b, inode(), ino, want)
	}
	s.Close()
	s = open(t, o)
	wantRange(t, drain(t, s, 10), 7, 10)
}

func TestOpenCursorRecovery(t *testing.T) {
	o := func(dir string) Options { return Options{Dir: dir, MaxBytes: 10000, SegmentBytes: 100} }
	// Three segments: 1 (0..9), 2 (10..19), 3 (20..24).
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		s := open(t, o(dir))
		appendRange(t, s, 0, 25)
		s.Close()
		return dir
	}
	cases := []struct {
		name   string
		cursor string
		from   int
		segs   int
	}{
		{"missing segment before", "0 30\n", 0, 3},
		{"missing segment after", "9 0\n", 0, 3},
		{"malformed", "garbage\n", 0, 3},
		{"negative offset", "2 -5\n", 0, 3},
		{"offset beyond size", "2 5000\n", 20, 1},
		{"mid-record offset", "2 35\n", 13, 2},
		{"record start", "2 40\n", 14, 2},
		{"crash before removal", "3 20\n", 22, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := setup(t)
			writeCursorFile(t, dir, c.cursor)
			s := open(t, o(dir))
			wantStats(t, s, Stats{Pending: uint64(25 - c.from)})
			if f := segFiles(t, dir); len(f) != c.segs {
				t.Fatalf("segments %v, want %d", f, c.segs)
			}
			wantRange(t, drain(t, s, 4), c.from, 25)
		})
	}
	t.Run("no segments, stale cursor", func(t *testing.T) {
		dir := t.TempDir()
		writeCursorFile(t, dir, "7 50\n")
		s := open(t, o(dir))
		appendRange(t, s, 0, 3)
		s.Close()
		s = open(t, o(dir)) // the stale cursor must not skip records
		wantRange(t, drain(t, s, 10), 0, 3)
	})
}

func appendRaw(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTornLastLine(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, MaxBytes: 10000, SegmentBytes: 100}
	s := open(t, o)
	appendRange(t, s, 0, 13) // segment 1: 0..9, segment 2: 10..12
	s.Close()
	seg2 := filepath.Join(dir, "0000000000000002.seg")
	appendRaw(t, seg2, "r000000") // a crash in the middle of a write
	s = open(t, o)
	if fi, err := os.Stat(seg2); err != nil || fi.Size() != 30 {
		t.Fatalf("newest segment after Open: %v, %v; want 30 bytes", fi.Size(), err)
	}
	wantStats(t, s, Stats{Pending: 13})
	appendRange(t, s, 13, 15) // must not be glued to the torn bytes
	wantRange(t, drain(t, s, 100), 0, 15)
	s.Close()

	// A segment made only of a torn record, and one in the middle.
	dir = t.TempDir()
	o.Dir = dir
	s = open(t, o)
	appendRange(t, s, 0, 25)
	s.Close()
	appendRaw(t, filepath.Join(dir, "0000000000000001.seg"), "r0000")
	if err := os.WriteFile(filepath.Join(dir, "0000000000000004.seg"), []byte("r0000000"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = open(t, o)
	wantStats(t, s, Stats{Pending: 25})
	appendRange(t, s, 25, 27)
	wantRange(t, drain(t, s, 6), 0, 27)
}

func TestTruncateTornError(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may truncate read-only files")
	}
	dir := t.TempDir()
	o := Options{Dir: dir, MaxBytes: 10000, SegmentBytes: 100}
	s := open(t, o)
	appendRange(t, s, 0, 3)
	s.Close()
	seg := filepath.Join(dir, "0000000000000001.seg")
	appendRaw(t, seg, "r00")
	if err := os.Chmod(seg, 0o400); err != nil {
		t.Fatal(err)
	}
	_, err := Open(o)
	want := "spool: " + seg + ": truncate torn record: permission denied"
	if err == nil || err.Error() != want {
		t.Fatalf("Open: %v, want %s", err, want)
	}
}

func TestErrorsNameFile(t *testing.T) {
	// Dir is a file.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Options{Dir: file})
	if err == nil || !strings.HasPrefix(err.Error(), "spool: "+file+": create directory: ") {
		t.Fatalf("Open on a file: %v", err)
	}

	// A segment cut short behind the spool's back.
	dir := t.TempDir()
	s := open(t, Options{Dir: dir, MaxBytes: 10000, SegmentBytes: 100})
	appendRange(t, s, 0, 5)
	seg := filepath.Join(dir, "0000000000000001.seg")
	if err := os.Truncate(seg, 15); err != nil {
		t.Fatal(err)
	}
	_, err = s.Peek(10, 0)
	want := "spool: " + seg + ": read record: unexpected EOF"
	if err == nil || err.Error() != want {
		t.Fatalf("Peek: %v, want %s", err, want)
	}
	if err := s.Ack(1); err == nil {
		t.Fatal("Ack after a failed Peek: no error")
	}

	// Bad options.
	for _, o := range []Options{
		{},
		{Dir: dir, MaxBytes: -1},
		{Dir: dir, SegmentBytes: -1},
		{Dir: dir, MaxBytes: 1000, SegmentBytes: 2000},
	} {
		if _, err := Open(o); err == nil {
			t.Errorf("Open(%+v): no error", o)
		}
	}
}

func TestDefaults(t *testing.T) {
	for _, c := range []struct{ max, wantMax, wantSeg int64 }{
		{0, 64 << 20, 4 << 20},
		{1 << 20, 1 << 20, 128 << 10},
		{16 << 10, 16 << 10, 4096},
		{1000, 1000, 1000},
		{1 << 30, 1 << 30, 4 << 20},
	} {
		s := open(t, Options{Dir: t.TempDir(), MaxBytes: c.max})
		if s.maxBytes != c.wantMax || s.segBytes != c.wantSeg {
			t.Errorf("MaxBytes %d: got %d/%d, want %d/%d", c.max, s.maxBytes, s.segBytes, c.wantMax, c.wantSeg)
		}
	}
	dir := filepath.Join(t.TempDir(), "a", "b")
	open(t, Options{Dir: dir})
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("Dir: %v, %v; want created 0700", fi, err)
	}
}

func TestInvalidRecords(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir(), MaxBytes: 1000, SegmentBytes: 100})
	for _, r := range [][]byte{
		nil,
		{},
		[]byte("a\nb"),
		[]byte("ab\n"),
		bytes.Repeat([]byte("x"), 101),
	} {
		if err := s.Append(r); err == nil {
			t.Errorf("Append(%q): no error", r)
		}
	}
	wantStats(t, s, Stats{})
	select {
	case <-s.Ready():
		t.Fatal("Ready signalled by a refused record")
	default:
	}
	// A record of exactly SegmentBytes is taken.
	full := bytes.Repeat([]byte("y"), 100)
	if err := s.Append(full); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Peek(10, 0)
	if err != nil || len(recs) != 1 || !bytes.Equal(recs[0], full) {
		t.Fatalf("Peek = %q, %v", recs, err)
	}
}

func TestLongRecords(t *testing.T) {
	// Records longer than the read buffer.
	s := open(t, Options{Dir: t.TempDir(), MaxBytes: 8 << 20, SegmentBytes: 1 << 20})
	var want [][]byte
	for i := range 20 {
		r := bytes.Repeat([]byte{byte('a' + i)}, 10000*i+1)
		want = append(want, r)
		if err := s.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	var got [][]byte
	for {
		recs, err := s.Peek(3, 0)
		if err != nil {
			t.Fatal(err)
		}
		if recs == nil {
			break
		}
		got = append(got, recs...)
		if err := s.Ack(len(recs)); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d differs: %d bytes, want %d", i, len(got[i]), len(want[i]))
		}
	}
}

func TestPeekReturnsCopies(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir(), MaxBytes: 10000, SegmentBytes: 100})
	appendRange(t, s, 0, 3)
	recs, err := s.Peek(3, 0)
	if err != nil {
		t.Fatal(err)
	}
	recs[0] = append(recs[0], "XYZ"...) // must not spill into recs[1]
	recs[2][0] = 'Z'
	wantRange(t, peekNums(t, s, 3, 0), 0, 3)
	if string(recs[1]) != string(rec(1)) {
		t.Fatalf("recs[1] = %q", recs[1])
	}
}

func TestBound(t *testing.T) {
	dir := t.TempDir()
	const maxBytes, segBytes, n = 1000, 100, 5000
	s := open(t, Options{Dir: dir, MaxBytes: maxBytes, SegmentBytes: segBytes})
	for i := range n {
		if err := s.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
		if b := s.Stats().Bytes; b > maxBytes+segBytes {
			t.Fatalf("after %d appends Bytes = %d > %d", i+1, b, maxBytes+segBytes)
		}
		if i%500 == 0 {
			if d := diskBytes(t, dir); d > maxBytes+segBytes {
				t.Fatalf("after %d appends %d bytes on disk", i+1, d)
			}
		}
	}
	st := s.Stats()
	if st.Bytes > maxBytes {
		t.Fatalf("Bytes = %d > MaxBytes", st.Bytes)
	}
	got := peekNums(t, s, 1<<20, 0)
	if len(got) == 0 || got[len(got)-1] != n-1 {
		t.Fatalf("remaining records %v: want the newest", head(got))
	}
	wantRange(t, got, n-len(got), n)
	if len(got) < maxBytes/10-segBytes/10 {
		t.Fatalf("only %d records kept", len(got))
	}
	wantStats(t, s, Stats{Pending: uint64(len(got)), Appended: n, Dropped: uint64(n - len(got))})
	if d := s.DroppedSince(); d != uint64(n-len(got)) {
		t.Fatalf("DroppedSince = %d, want %d", d, n-len(got))
	}
	if d := s.DroppedSince(); d != 0 {
		t.Fatalf("second DroppedSince = %d, want 0", d)
	}
	appendRange(t, s, n, n+10) // drops one more segment of 10
	if d := s.DroppedSince(); d != 10 {
		t.Fatalf("DroppedSince after 10 more = %d, want 10", d)
	}
	if st := s.Stats(); st.Dropped != uint64(n-len(got))+10 {
		t.Fatalf("Dropped = %d", st.Dropped)
	}
	// The bound is respected at Open too, when MaxBytes shrank.
	s.Close()
	s = open(t, Options{Dir: dir, MaxBytes: 300, SegmentBytes: 100})
	st = s.Stats()
	if st.Bytes > 300 || st.Dropped == 0 || st.Pending+st.Dropped != uint64(len(got)) {
		t.Fatalf("after Open with a smaller bound: %+v", st)
	}
	wantRange(t, drain(t, s, 7), n+10-int(st.Pending), n+10)
}

func TestBoundWhileReading(t *testing.T) {
	o := func(dir string) Options { return Options{Dir: dir, MaxBytes: 300, SegmentBytes: 100} }
	consistent := func(t *testing.T, s *Spool) {
		t.Helper()
		st := s.Stats()
		if st.Appended != st.Acked+st.Dropped+st.Pending {
			t.Fatalf("inconsistent %+v", st)
		}
	}

	t.Run("part of the batch dropped", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, o(dir))
		appendRange(t, s, 0, 25) // segments 0..9, 10..19, 20..24
		wantRange(t, peekNums(t, s, 15, 0), 0, 15)
		appendRange(t, s, 25, 31) // 310 bytes: segment 1 (0..9) dropped
		wantStats(t, s, Stats{Pending: 21, Appended: 31, Dropped: 10})
		if err := s.Ack(15); err != nil {
			t.Fatal(err)
		}
		wantStats(t, s, Stats{Pending: 16, Appended: 31, Acked: 5, Dropped: 10})
		wantRange(t, peekNums(t, s, 100, 0), 15, 31)
		s.Close()
		s = open(t, o(dir))
		wantStats(t, s, Stats{Pending: 16})
		wantRange(t, drain(t, s, 4), 15, 31)
	})

	t.Run("whole batch dropped", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, o(dir))
		appendRange(t, s, 0, 25)
		wantRange(t, peekNums(t, s, 5, 0), 0, 5)
		appendRange(t, s, 25, 31)
		if err := s.Ack(2); err != nil {
			t.Fatal(err)
		}
		if err := s.Ack(3); err != nil {
			t.Fatal(err)
		}
		wantStats(t, s, Stats{Pending: 21, Appended: 31, Dropped: 10})
		wantRange(t, peekNums(t, s, 3, 0), 10, 13)
		s.Close()
		s = open(t, o(dir)) // the cursor did not go backwards on disk either
		wantStats(t, s, Stats{Pending: 21})
		wantRange(t, drain(t, s, 4), 10, 31)
	})

	t.Run("acked part then dropped", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, o(dir))
		appendRange(t, s, 0, 25)
		wantRange(t, peekNums(t, s, 8, 0), 0, 8)
		if err := s.Ack(3); err != nil {
			t.Fatal(err)
		}
		appendRange(t, s, 25, 41) // segments 1 and 2 dropped: 7 + 10 records
		wantStats(t, s, Stats{Pending: 21, Appended: 41, Acked: 3, Dropped: 17})
		if err := s.Ack(5); err != nil {
			t.Fatal(err)
		}
		wantStats(t, s, Stats{Pending: 21, Appended: 41, Acked: 3, Dropped: 17})
		wantRange(t, drain(t, s, 100), 20, 41)
		consistent(t, s)
	})

	t.Run("dropped before reading", func(t *testing.T) {
		s := open(t, o(t.TempDir()))
		appendRange(t, s, 0, 25)
		next := 25
		s.hookPeek = func(stage string) {
			if stage == "start" { // the cursor's segment goes before it is opened
				appendRange(t, s, next, next+6)
				next += 6
			}
		}
		wantRange(t, peekNums(t, s, 100, 0), 10, 31)
		s.hookPeek = nil
		wantStats(t, s, Stats{Pending: 21, Appended: 31, Dropped: 10})
		if err := s.Ack(21); err != nil {
			t.Fatal(err)
		}
		wantStats(t, s, Stats{Appended: 31, Acked: 21, Dropped: 10})
	})

	t.Run("dropped while reading", func(t *testing.T) {
		s := open(t, o(t.TempDir()))
		appendRange(t, s, 0, 25)
		wantRange(t, peekNums(t, s, 3, 0), 0, 3) // the reader keeps segment 1 open
		next := 25
		s.hookPeek = func(stage string) {
			if stage == "read" { // after reading, before returning
				appendRange(t, s, next, next+6)
				next += 6
			}
		}
		wantRange(t, peekNums(t, s, 15, 0), 10, 15)
		s.hookPeek = nil
		if err := s.Ack(5); err != nil {
			t.Fatal(err)
		}
		wantStats(t, s, Stats{Pending: 16, Appended: 31, Acked: 5, Dropped: 10})
		wantRange(t, drain(t, s, 100), 15, 31)
	})

	t.Run("segment grows and rotates while read", func(t *testing.T) {
		s := open(t, o(t.TempDir()))
		appendRange(t, s, 0, 5)
		s.hookPeek = func(stage string) {
			if stage == "start" { // after Peek saw segment 1 with 5 records
				appendRange(t, s, 5, 15)
			}
		}
		wantRange(t, peekNums(t, s, 100, 0), 0, 15)
		s.hookPeek = nil
		if err := s.Ack(15); err != nil {
			t.Fatal(err)
		}
		wantStats(t, s, Stats{Appended: 15, Acked: 15})
	})

	t.Run("everything read dropped", func(t *testing.T) {
		s := open(t, o(t.TempDir()))
		appendRange(t, s, 0, 25)
		next := 25
		calls := 0
		s.hookPeek = func(stage string) {
			if stage == "read" && calls == 0 { // once: Peek tries again
				calls++
				appendRange(t, s, next, next+16) // segments 1 and 2 dropped
				next += 16
			}
		}
		wantRange(t, peekNums(t, s, 12, 0), 20, 32)
		s.hookPeek = nil
		wantStats(t, s, Stats{Pending: 21, Appended: 41, Dropped: 20})
		if err := s.Ack(12); err != nil {
			t.Fatal(err)
		}
		wantRange(t, drain(t, s, 100), 32, 41)
		consistent(t, s)
	})
}

func TestReady(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir(), MaxBytes: 10000, SegmentBytes: 100})
	select {
	case <-s.Ready():
		t.Fatal("Ready before any Append")
	default:
	}
	appendRange(t, s, 0, 1)
	select {
	case <-s.Ready():
	default:
		t.Fatal("Ready not signalled after Append")
	}
	appendRange(t, s, 1, 5) // capacity 1: one signal for the lot, no blocking
	select {
	case <-s.Ready():
	default:
		t.Fatal("Ready not signalled after Appends")
	}
	select {
	case <-s.Ready():
		t.Fatal("Ready signalled twice")
	default:
	}
}

// runConcurrent appends n records in one goroutine while another peeks
// and acks, and a third reads the figures. It returns what was delivered.
func runConcurrent(t *testing.T, s *Spool, n, batch int) []int {
	var got []int
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := range n {
			if err := s.Append(rec(i)); err != nil {
				t.Errorf("Append: %v", err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		defer close(done)
		deadline := time.After(60 * time.Second)
		for {
			recs, err := s.Peek(batch, 4096)
			if err != nil {
				t.Errorf("Peek: %v", err)
				return
			}
			for _, r := range recs {
				got = append(got, recNum(t, r))
			}
			if err := s.Ack(len(recs)); err != nil {
				t.Errorf("Ack: %v", err)
				return
			}
			if len(recs) > 0 {
				continue
			}
			st := s.Stats()
			if st.Appended == uint64(n) && st.Pending == 0 {
				return
			}
			select {
			case <-s.Ready():
			case <-time.After(time.Millisecond):
			case <-deadline:
				t.Errorf("timed out: %+v", s.Stats())
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			s.Stats()
			s.DroppedSince()
		}
	}()
	wg.Wait()
	return got
}

func TestConcurrent(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir(), MaxBytes: 64 << 20, SegmentBytes: 4096})
	const n = 20000
	got := runConcurrent(t, s, n, 100)
	wantRange(t, got, 0, n)
	wantStats(t, s, Stats{Appended: n, Acked: n})
}

func TestConcurrentWithDrops(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir(), MaxBytes: 2000, SegmentBytes: 200})
	const n = 20000
	got := runConcurrent(t, s, n, 7)
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("record %d after %d", got[i], got[i-1])
		}
	}
	st := s.Stats()
	// Records peeked, then dropped before their Ack, are delivered and
	// counted as dropped: Acked <= delivered.
	if st.Appended != n || st.Pending != 0 || st.Acked > uint64(len(got)) || st.Acked+st.Dropped != n {
		t.Fatalf("delivered %d, %+v", len(got), st)
	}
	if len(got) == 0 || got[len(got)-1] != n-1 {
		t.Fatal("the last record was not delivered")
	}
}

func BenchmarkAppend(b *testing.B) {
	s := open(b, Options{Dir: b.TempDir()})
	r := bytes.Repeat([]byte("x"), 300)
	b.ReportAllocs()
	b.SetBytes(int64(len(r)))
	for b.Loop() {
		if err := s.Append(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPeekAck(b *testing.B) {
	const batch = 64
	s := open(b, Options{Dir: b.TempDir()})
	r := bytes.Repeat([]byte("x"), 300)
	b.ReportAllocs()
	for b.Loop() {
		if s.Stats().Pending < batch {
			b.StopTimer()
			for range 100 * batch {
				if err := s.Append(r); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
		}
		recs, err := s.Peek(batch, 1<<20)
		if err != nil || len(recs) != batch {
			b.Fatalf("Peek: %d, %v", len(recs), err)
		}
		if err := s.Ack(len(recs)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
}

// A spool is open in one place at a time: a second Open of the same
// directory fails, naming the directory and the holder, and works again
// once the first is closed. The records are untouched.
func TestOpenIsExclusive(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Append([]byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Options{Dir: dir})
	want := fmt.Sprintf("spool: %s is in use by process %d: give each its own --spool-dir", dir, os.Getpid())
	if err == nil || err.Error() != want {
		t.Fatalf("second Open: %v, want %q", err, want)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	defer b.Close()
	if st := b.Stats(); st.Pending != 1 {
		t.Fatalf("pending %d, want 1", st.Pending)
	}
}
