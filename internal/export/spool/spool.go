// SPDX-License-Identifier: LGPL-3.0-only

// Package spool is a bounded on-disk FIFO of records, kept between a
// producer that appends samples as they are taken and a sender that
// delivers them to a server that may be away.
//
// # Guarantees
//
//   - Order: records are returned by Peek in the order they were appended,
//     also across restarts of the process.
//   - At-least-once: a record leaves the spool only when the sender
//     acknowledges it (Ack) or when it is dropped to respect the bound.
//     The cursor (the position of the first unacknowledged record) is
//     persisted on every Ack, so after a restart the unacknowledged
//     records come back; a crash between a send and its Ack delivers those
//     records again.
//   - Bounded disk: after each Append (and at Open), while the segment
//     files total more than MaxBytes and there is more than one, the
//     oldest segment is deleted. Its undelivered records are counted in
//     Stats.Dropped and DroppedSince, never dropped silently. A segment is
//     rotated before a record would take it past SegmentBytes, so the
//     bytes on disk stay at most MaxBytes, or SegmentBytes+1 when a single
//     segment is left. Drops go by whole segments: SegmentBytes is the
//     granularity.
//   - Bounded memory: records are read with a fixed-size buffer; only what
//     a Peek returns (at most max records and maxBytes, or one record) is
//     held, never a whole segment.
//   - Cheap appends: an AppendBatch is one write(2) of its records, each
//     with its newline, to a file opened O_APPEND (one more for each
//     segment it fills), without fsync: a reader and a crashed process see
//     them at once; a power loss may lose the last records. A record torn
//     by a crash in the middle of the write is cut off at the next Open.
//     Stats counts the write calls and the bytes written.
//
// # Layout
//
// Dir holds segment files named %016d.seg with increasing sequence
// numbers, each a run of records as lines (the record bytes, then '\n'),
// and a file "cursor" holding "<segment> <offset>\n", the position of the
// first unacknowledged record, each a 20-digit number, overwritten in
// place with one write (a "cursor.tmp" left by an earlier version, which
// replaced the file by rename, is removed at Open). A missing or
// unreadable cursor means the start of the oldest segment: records are
// delivered again rather than lost. One Spool per directory, in one
// process.
//
// # Concurrency
//
// One goroutine calls Append and AppendBatch; one other goroutine calls Peek and Ack; any
// goroutine may call Stats, DroppedSince and Ready. Close is called once
// neither of the first two is running. The file I/O of Append and Peek
// runs outside the mutex; the mutex guards only the bookkeeping.
//
// # Acknowledging after drops
//
// Ack(n) acknowledges the first n records of the last Peek that are not
// yet acknowledged (a later Ack(m) takes the next m). When the bound has
// dropped some of those records between the Peek and the Ack, they count
// as dropped, not acknowledged: the Ack is applied only to the peeked
// records that are still in the spool, and it never moves the cursor
// backwards. An Ack whose records were all dropped changes nothing and
// returns nil. Either way the next Peek starts at the oldest record still
// in the spool, so what a sender sees is a contiguous run of records,
// with a gap only where DroppedSince reports one. A consequence: a record
// that a Peek returned, that the sender delivered, and that the bound
// dropped before its Ack is counted in Dropped, not in Acked (Acked counts
// the records that were still in the spool when acknowledged). Pending
// goes up by one per Append and down by one per record acknowledged or
// dropped.
//
// # Costs
//
// AppendBatch: one write(2) and a short critical section, no allocation
// (about 2 µs for one record); append batches, not single records. Ack: one
// pwrite(2) of the cursor (a few µs); acknowledge batches all the same.
// Peek: pread(2) through a 32 KiB buffer, two allocations for the records
// returned.
package spool

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

const (
	defaultMaxBytes   = 64 << 20
	maxDefaultSegment = 4 << 20
	minDefaultSegment = 4096
	readBufSize       = 32 << 10
	keepWriteBuf      = 64 << 10 // larger append buffers are not kept
	keepScratch       = 1 << 20  // nor larger Peek buffers
	segSuffix         = ".seg"
	segNameLen        = 16 + len(segSuffix)
	cursorName        = "cursor"
	cursorTmpName     = "cursor.tmp"
	maxPeekAttempts   = 8
)

// Options configure Open.
type Options struct {
	Dir          string // created 0700 if missing
	MaxBytes     int64  // bound on the bytes of all segment files; default 64 MiB when 0
	SegmentBytes int64  // a segment is rotated once it reaches this size; default min(4 MiB, MaxBytes/8), at least 4096
}

// Stats are the spool's figures.
type Stats struct {
	Bytes    int64  `json:"bytes"`    // bytes of segment files on disk
	Pending  uint64 `json:"pending"`  // records appended and not yet acknowledged (includes ones recovered at Open)
	Appended uint64 `json:"appended"` // since Open
	Acked    uint64 `json:"acked"`    // since Open
	Dropped  uint64 `json:"dropped"`  // undelivered records removed to respect MaxBytes, since Open
	Writes   uint64 `json:"writes"`   // write(2) calls that appended records, since Open
	Written  uint64 `json:"written"`  // bytes they appended, since Open
}

// segment is one segment file as far as complete records go.
type segment struct {
	seq   uint64
	size  int64  // bytes of complete records
	count uint64 // records
}

// pos is a position in the spool: the byte offset in segment seq, and idx,
// the number of records before off in that segment.
type pos struct {
	seq uint64
	off int64
	idx uint64
}

func (a pos) after(b pos) bool {
	return a.seq > b.seq || a.seq == b.seq && a.off > b.off
}

// segReader reads a segment file from off up to end with pread, so that
// only complete records (those counted in the segment's size) are read.
type segReader struct {
	f   *os.File
	off int64
	end int64
}

func (r *segReader) Read(p []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	if left := r.end - r.off; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := r.f.ReadAt(p, r.off)
	r.off += int64(n)
	if n == len(p) {
		return n, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF // the file is shorter than written
	}
	return n, err
}

// Spool is a bounded on-disk FIFO of records. See the package documentation.
type Spool struct {
	dir      string
	maxBytes int64
	segBytes int64
	ready    chan struct{}
	closed   atomic.Bool
	lock     *os.File // flock'd until Close (lock.go)
	cf       *os.File // the cursor file, once written (Open, then the reading goroutine)

	// hookPeek, when set by tests, is called by Peek between its stages.
	hookPeek func(stage string)

	// Owned by the appending goroutine.
	w       *os.File
	wseq    uint64
	wsize   int64
	wbroken bool // a failed write could not be undone: rotate
	wbuf    []byte
	wdoomed []uint64
	one     [1][]byte // Append's batch

	// Owned by the reading goroutine (Peek, Ack).
	rf       *os.File // open segment rseq, or nil
	rseq     uint64
	rpos     int64 // offset in rseq of the next byte br returns
	sr       segReader
	br       *bufio.Reader
	long     []byte // a record longer than br's buffer
	peek     []pos  // end of each record of the last Peek
	peekHead int    // peek[:peekHead] are acknowledged
	ends     []int  // end of each record of the last Peek in scratch
	scratch  []byte // the records of the last Peek
	rdoomed  []uint64

	mu         sync.Mutex
	segs       []segment // oldest first; never empty; the last is wseq
	cur        pos       // first unacknowledged record; cur.seq == segs[0].seq
	bytes      int64
	pending    uint64
	appended   uint64
	acked      uint64
	dropped    uint64
	unreported uint64
	writes     uint64 // write(2) calls that appended records
	written    uint64 // bytes they appended
}

// fileErr names the file, the operation and the reason, without repeating
// the path that os errors carry.
func fileErr(path, op string, err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &le):
		err = le.Err
	}
	return fmt.Errorf("spool: %s: %s: %w", path, op, err)
}

var errClosed = errors.New("spool: closed")

func (s *Spool) segPath(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016d%s", seq, segSuffix))
}

// Open opens the spool in o.Dir, creating it if needed, and recovers what a
// previous process left: it deletes the segments already consumed, cuts
// off a torn last record, and counts the pending records. A spool is open
// in one place at a time: Open fails while another Spool, in this process
// or another, has o.Dir open.
func Open(o Options) (*Spool, error) {
	if o.Dir == "" {
		return nil, errors.New("spool: Options.Dir is empty")
	}
	maxBytes := o.MaxBytes
	switch {
	case maxBytes < 0:
		return nil, fmt.Errorf("spool: MaxBytes %d is negative", maxBytes)
	case maxBytes == 0:
		maxBytes = defaultMaxBytes
	}
	segBytes := o.SegmentBytes
	switch {
	case segBytes < 0:
		return nil, fmt.Errorf("spool: SegmentBytes %d is negative", segBytes)
	case segBytes == 0:
		segBytes = min(maxDefaultSegment, maxBytes/8)
		segBytes = max(segBytes, minDefaultSegment)
		segBytes = min(segBytes, maxBytes)
	case segBytes > maxBytes:
		return nil, fmt.Errorf("spool: SegmentBytes %d exceeds MaxBytes %d", segBytes, maxBytes)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fileErr(o.Dir, "create directory", err)
	}
	lock, err := lockDir(o.Dir)
	if err != nil {
		return nil, err
	}
	s := &Spool{
		dir:      o.Dir,
		maxBytes: maxBytes,
		segBytes: segBytes,
		ready:    make(chan struct{}, 1),
		lock:     lock,
	}
	s.br = bufio.NewReaderSize(&s.sr, readBufSize)
	if err := s.recover(); err != nil {
		if s.w != nil {
			s.w.Close()
		}
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	return s, nil
}

// recover builds the state from the files in s.dir.
func (s *Spool) recover() error {
	tmp := filepath.Join(s.dir, cursorTmpName)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fileErr(tmp, "remove stale cursor", err)
	}
	seqs, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	c, haveCursor, err := readCursor(filepath.Join(s.dir, cursorName))
	if err != nil {
		return err
	}
	cursorSeq := c.seq
	// The cursor's segment, or the oldest if it is gone.
	first := 0
	if haveCursor {
		i := sort.Search(len(seqs), func(i int) bool { return seqs[i] >= c.seq })
		if i < len(seqs) && seqs[i] == c.seq {
			first = i
		} else {
			c = pos{}
			haveCursor = false
		}
	}
	for _, seq := range seqs[:first] { // consumed; a crash kept them
		if err := removeSeg(s.segPath(seq)); err != nil {
			return err
		}
	}
	buf := make([]byte, readBufSize)
	for i, seq := range seqs[first:] {
		path := s.segPath(seq)
		split := int64(0)
		if i == 0 && haveCursor {
			split = c.off
		}
		sg, before, lastNL, err := scanSegment(path, split, buf)
		if err != nil {
			return err
		}
		sg.seq = seq
		if i == 0 {
			off := min(split, sg.size)
			if off > 0 && lastNL != off-1 { // not at a record start: go back to one
				off = lastNL + 1
			}
			s.cur = pos{seq: seq, off: off, idx: before}
			s.pending += sg.count - before
		} else {
			s.pending += sg.count
		}
		s.bytes += sg.size
		s.segs = append(s.segs, sg)
	}
	if len(s.segs) == 0 {
		seq := uint64(1)
		if len(seqs) > 0 {
			seq = seqs[len(seqs)-1] + 1
		}
		seq = max(seq, cursorSeq+1) // never one a stale cursor names
		if err := s.createSegment(seq); err != nil {
			return err
		}
		s.segs = append(s.segs, segment{seq: seq})
		s.cur = pos{seq: seq}
	} else {
		last := s.segs[len(s.segs)-1]
		path := s.segPath(last.seq)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return fileErr(path, "open segment for appending", err)
		}
		s.w, s.wseq, s.wsize = f, last.seq, last.size
	}
	doomed := s.advanceConsumed(nil)
	doomed = s.enforceBound(doomed)
	if err := s.writeCursor(s.cur); err != nil {
		return err
	}
	return s.removeSegs(doomed)
}

// listSegments returns the sequence numbers of the segment files in dir,
// in increasing order.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fileErr(dir, "list segments", err)
	}
	var seqs []uint64
	for _, e := range ents {
		name := e.Name()
		if len(name) != segNameLen || !strings.HasSuffix(name, segSuffix) || !e.Type().IsRegular() {
			continue
		}
		seq, err := strconv.ParseUint(name[:16], 10, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

// readCursor reads the cursor file. A missing or malformed one is reported
// as absent: delivering again is better than losing records.
func readCursor(path string) (pos, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return pos{}, false, nil
	}
	if err != nil {
		return pos{}, false, fileErr(path, "read cursor", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return pos{}, false, nil
	}
	seq, err1 := strconv.ParseUint(f[0], 10, 64)
	off, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || off < 0 {
		return pos{}, false, nil
	}
	return pos{seq: seq, off: off}, true, nil
}

// scanSegment cuts off a torn last record of a segment file and counts its
// records: all of them, and those ending before split. lastNL is the
// offset of the last newline before split, or -1.
func scanSegment(path string, split int64, buf []byte) (sg segment, before uint64, lastNL int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return sg, 0, 0, fileErr(path, "open segment", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return sg, 0, 0, fileErr(path, "stat segment", err)
	}
	size := fi.Size()
	// A torn record: bytes after the last newline.
	if size > 0 {
		end := size
		for end > 0 {
			n := min(int64(len(buf)), end)
			if _, err := f.ReadAt(buf[:n], end-n); err != nil {
				return sg, 0, 0, fileErr(path, "read segment", err)
			}
			if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
				end = end - n + int64(i) + 1
				break
			}
			end -= n
		}
		if end < size {
			if err := os.Truncate(path, end); err != nil {
				return sg, 0, 0, fileErr(path, "truncate torn record", err)
			}
			size = end
		}
	}
	lastNL = -1
	for o := int64(0); o < size; {
		n := min(int64(len(buf)), size-o)
		if _, err := f.ReadAt(buf[:n], o); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return sg, 0, 0, fileErr(path, "read segment", err)
		}
		chunk := buf[:n]
		if o < split {
			head := chunk[:min(n, split-o)]
			before += uint64(bytes.Count(head, []byte{'\n'}))
			if i := bytes.LastIndexByte(head, '\n'); i >= 0 {
				lastNL = o + int64(i)
			}
		}
		sg.count += uint64(bytes.Count(chunk, []byte{'\n'}))
		o += n
	}
	sg.size = size
	return sg, before, lastNL, nil
}

// createSegment creates segment seq and makes it the one appended to.
func (s *Spool) createSegment(seq uint64) error {
	path := s.segPath(seq)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fileErr(path, "create segment", err)
	}
	if s.w != nil {
		// Closing a file written without fsync reports nothing that the
		// writes did not; the records are in the page cache either way.
		s.w.Close()
	}
	s.w, s.wseq, s.wsize, s.wbroken = f, seq, 0, false
	return nil
}

func removeSeg(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fileErr(path, "remove segment", err)
	}
	return nil
}

// removeSegs removes the segment files; it reports the first error.
func (s *Spool) removeSegs(seqs []uint64) error {
	var first error
	for _, seq := range seqs {
		if err := removeSeg(s.segPath(seq)); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// advanceConsumed moves the cursor past fully consumed segments, other
// than the newest, and appends them to doomed. s.mu is held (or s is not
// shared yet).
func (s *Spool) advanceConsumed(doomed []uint64) []uint64 {
	for len(s.segs) > 1 && s.cur.off >= s.segs[0].size {
		doomed = append(doomed, s.segs[0].seq)
		s.bytes -= s.segs[0].size
		s.segs = s.segs[1:]
		s.cur = pos{seq: s.segs[0].seq}
	}
	return doomed
}

// enforceBound deletes the oldest segments while the spool is over its
// bound, counting their undelivered records as dropped, and appends them
// to doomed. s.mu is held (or s is not shared yet).
func (s *Spool) enforceBound(doomed []uint64) []uint64 {
	for s.bytes > s.maxBytes && len(s.segs) > 1 {
		sg := s.segs[0]
		d := sg.count - s.cur.idx // the cursor is in the oldest segment
		s.dropped += d
		s.unreported += d
		s.pending -= d
		s.bytes -= sg.size
		s.segs = s.segs[1:]
		s.cur = pos{seq: s.segs[0].seq}
		doomed = append(doomed, sg.seq)
	}
	return doomed
}

// writeCursor persists c: one pwrite(2) of a fixed-width line over the
// cursor file, kept open. A process that dies cannot tear a write call, so
// the file holds the old cursor or the new one; a power loss may leave it
// torn, and a torn cursor reads as none (delivering again). Replacing the
// file by rename, as before, cost a few hundred µs an Ack on ext4.
func (s *Spool) writeCursor(c pos) error {
	path := filepath.Join(s.dir, cursorName)
	if s.cf == nil {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fileErr(path, "open cursor", err)
		}
		// A cursor of another width (an earlier version's) must not
		// leave bytes after ours.
		if st, err := f.Stat(); err == nil && st.Size() != cursorLen {
			if err := f.Truncate(0); err != nil {
				f.Close()
				return fileErr(path, "truncate cursor", err)
			}
		}
		s.cf = f
	}
	var b [cursorLen]byte
	line := fmt.Appendf(b[:0], "%020d %020d\n", c.seq, c.off)
	if _, err := s.cf.WriteAt(line, 0); err != nil {
		return fileErr(path, "write cursor", err)
	}
	return nil
}

// cursorLen is the cursor file's length: two 20-digit numbers, a space and
// a newline.
const cursorLen = 42

// Append adds one record at the end of the spool: AppendBatch of one.
// The record must not be empty, contain '\n', or be longer than
// SegmentBytes. An error about removing a segment ("remove segment") comes
// after the record was appended; any other error means it was not. Only
// one goroutine may call Append and AppendBatch.
func (s *Spool) Append(rec []byte) error {
	s.one[0] = rec
	_, err := s.AppendBatch(s.one[:])
	s.one[0] = nil
	return err
}

// AppendBatch adds records at the end of the spool, in order, with one
// write(2) for all those that go into the same segment (a group commit:
// one write call for a batch of samples, not one a sample). Records that
// are empty, contain '\n' or are longer than SegmentBytes are skipped.
// After each write, while the spool is over MaxBytes, it drops the oldest
// segments (see DroppedSince). It returns how many records it appended; a
// write error stops it (the records from there on are not appended). The
// error says what went wrong first: a skipped record, a failed write, or a
// segment it could not remove (which loses no record). Only one goroutine
// may call Append and AppendBatch.
func (s *Spool) AppendBatch(recs [][]byte) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	var first error
	note := func(err error) {
		if first == nil {
			first = err
		}
	}
	n, k := 0, 0 // records appended, and in s.wbuf
	s.wbuf = s.wbuf[:0]
	for _, rec := range recs {
		switch {
		case len(rec) == 0:
			note(errors.New("spool: append: empty record"))
			continue
		case int64(len(rec)) > s.segBytes:
			note(fmt.Errorf("spool: append: record of %d bytes is longer than a segment (%d bytes)", len(rec), s.segBytes))
			continue
		case bytes.IndexByte(rec, '\n') >= 0:
			note(errors.New("spool: append: record contains a newline"))
			continue
		}
		used := s.wsize + int64(len(s.wbuf))
		if s.wbroken || used > 0 && used+int64(len(rec))+1 > s.segBytes {
			done, rerr, err := s.writeLines(k)
			n += done
			k = 0
			if err == nil {
				err = s.createSegment(s.wseq + 1)
			}
			if err != nil {
				return n, err
			}
			s.mu.Lock()
			s.segs = append(s.segs, segment{seq: s.wseq})
			s.mu.Unlock()
			if rerr != nil {
				note(rerr)
			}
		}
		s.wbuf = append(s.wbuf, rec...)
		s.wbuf = append(s.wbuf, '\n')
		k++
	}
	done, rerr, err := s.writeLines(k)
	n += done
	if err != nil {
		return n, err
	}
	if rerr != nil {
		note(rerr)
	}
	if n > 0 {
		select {
		case s.ready <- struct{}{}:
		default:
		}
	}
	return n, first
}

// writeLines writes s.wbuf, k records, to the segment in one write and
// counts them; then drops the oldest segments while over the bound. It
// returns k and the error removing one (the records are in), or 0 and the
// error of the write.
func (s *Spool) writeLines(k int) (n int, removeErr, err error) {
	if k == 0 {
		return 0, nil, nil
	}
	buf := s.wbuf
	s.wbuf = s.wbuf[:0]
	if cap(buf) > keepWriteBuf {
		s.wbuf = nil
	}
	_, err = s.w.Write(buf)
	if err != nil {
		// Undo a partial write so that the next record starts a line;
		// if that fails too, the next record goes to a new segment (and
		// the torn bytes, never counted, are cut off at the next Open).
		if terr := s.w.Truncate(s.wsize); terr != nil {
			s.wbroken = true
		}
		return 0, nil, fileErr(s.w.Name(), "append record", err)
	}
	size := int64(len(buf))
	s.wsize += size

	s.mu.Lock()
	last := &s.segs[len(s.segs)-1]
	last.size = s.wsize
	last.count += uint64(k)
	s.bytes += size
	s.appended += uint64(k)
	s.pending += uint64(k)
	s.writes++
	s.written += uint64(size)
	s.wdoomed = s.enforceBound(s.wdoomed[:0])
	s.mu.Unlock()

	if len(s.wdoomed) > 0 {
		removeErr = s.removeSegs(s.wdoomed)
	}
	return k, removeErr, nil
}

// Ready returns a channel that receives a value after an Append (at most
// one waits: appends while it is full are not counted separately).
func (s *Spool) Ready() <-chan struct{} { return s.ready }

// Stats returns the spool's figures.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Bytes:    s.bytes,
		Pending:  s.pending,
		Appended: s.appended,
		Acked:    s.acked,
		Dropped:  s.dropped,
		Writes:   s.writes,
		Written:  s.written,
	}
}

// DroppedSince returns the number of records dropped to respect MaxBytes
// since its previous call (since Open for the first call), so that the
// caller can report each drop once. Stats().Dropped keeps the total.
func (s *Spool) DroppedSince() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.unreported
	s.unreported = 0
	return n
}

// Peek returns up to max of the oldest unacknowledged records, in order,
// stopping before their total length (newlines not counted) would exceed
// maxBytes (no byte limit when maxBytes <= 0), but returning at least one
// record when there is any. It does not advance: Ack does. The slices are
// the caller's. It returns nil, nil when the spool is empty. Each call
// replaces the records that Ack refers to. Only one goroutine (the one
// that calls Ack) may call Peek.
func (s *Spool) Peek(max int, maxBytes int) ([][]byte, error) {
	if max <= 0 {
		return nil, fmt.Errorf("spool: peek: max %d is not positive", max)
	}
	for attempt := 1; ; attempt++ {
		recs, again, err := s.peekOnce(max, maxBytes)
		if err != nil {
			s.peek, s.peekHead = s.peek[:0], 0 // nothing to Ack
		}
		if !again || attempt == maxPeekAttempts {
			return recs, err
		}
	}
}

// peekOnce is one try of Peek. It asks for another when all it read was
// dropped meanwhile while records remain.
func (s *Spool) peekOnce(max, maxBytes int) (recs [][]byte, again bool, err error) {
	s.peek = s.peek[:0]
	s.peekHead = 0
	if s.closed.Load() {
		return nil, false, errClosed
	}
	s.mu.Lock()
	p := s.cur
	sg := s.segs[0]
	pending := s.pending
	s.mu.Unlock()
	if pending == 0 {
		return nil, false, nil
	}
	if s.hookPeek != nil {
		s.hookPeek("start")
	}

	data := s.scratch[:0]
	s.ends = s.ends[:0]
	total := 0
read:
	for len(s.ends) < max {
		if p.off < sg.size {
			err := s.position(sg, p)
			if errors.Is(err, fs.ErrNotExist) && s.isDropped(sg.seq) {
				err = nil // dropped since: what was read is trimmed below
				p.off = sg.size
			}
			if err != nil {
				return nil, false, err
			}
		}
		for p.off < sg.size {
			if len(s.ends) == max {
				break read
			}
			rec, err := s.readRecord()
			if err != nil {
				return nil, false, fileErr(s.rf.Name(), "read record", err)
			}
			if maxBytes > 0 && len(s.ends) > 0 && total+len(rec) > maxBytes {
				break read // the reader is past rec: the next Peek seeks
			}
			total += len(rec)
			data = append(data, rec...)
			s.ends = append(s.ends, len(data))
			p.off = s.rpos
			p.idx++
			s.peek = append(s.peek, p)
		}
		var ok bool
		if sg, p, ok = s.advance(p); !ok {
			break
		}
	}
	if s.hookPeek != nil {
		s.hookPeek("read")
	}

	// Records dropped while they were read are not returned.
	s.mu.Lock()
	cur := s.cur
	pending = s.pending
	s.mu.Unlock()
	k := 0
	for k < len(s.peek) && !s.peek[k].after(cur) {
		k++
	}
	s.peekHead = k
	if cap(data) <= keepScratch {
		s.scratch = data[:0]
	} else {
		s.scratch = nil
	}
	if k == len(s.peek) {
		return nil, pending > 0, nil
	}
	// One allocation for the records, one for the slice of them.
	first := 0
	if k > 0 {
		first = s.ends[k-1]
	}
	out := make([]byte, len(data)-first)
	copy(out, data[first:])
	recs = make([][]byte, 0, len(s.peek)-k)
	start := 0
	for _, end := range s.ends[k:] {
		end -= first
		recs = append(recs, out[start:end:end])
		start = end
	}
	return recs, false, nil
}

// isDropped reports whether segment seq has left the spool.
func (s *Spool) isDropped(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return seq < s.segs[0].seq
}

// advance tells Peek, which has read up to p, what to read next: the rest
// of p's segment if it has grown, else the next segment (p's segment is
// then complete: it is no longer the newest). It reports false when there
// is nothing more.
func (s *Spool) advance(p pos) (segment, pos, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].seq >= p.seq })
	if i < len(s.segs) && s.segs[i].seq == p.seq {
		if s.segs[i].size > p.off {
			return s.segs[i], p, true
		}
		i++
	}
	if i == len(s.segs) {
		return segment{}, p, false
	}
	return s.segs[i], pos{seq: s.segs[i].seq}, true
}

// position makes br read segment sg from p.off up to sg.size, going on
// from where the previous read stopped when that is the place.
func (s *Spool) position(sg segment, p pos) error {
	if s.rf != nil && s.rseq == sg.seq && s.rpos == p.off {
		s.sr.end = sg.size
		return nil
	}
	if s.rf == nil || s.rseq != sg.seq {
		s.closeReader()
		path := s.segPath(sg.seq)
		f, err := os.Open(path)
		if err != nil {
			return fileErr(path, "open segment", err)
		}
		s.rf, s.rseq = f, sg.seq
	}
	s.sr = segReader{f: s.rf, off: p.off, end: sg.size}
	s.br.Reset(&s.sr)
	s.rpos = p.off
	return nil
}

func (s *Spool) closeReader() {
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
}

// readRecord returns the next record without its newline; the slice is
// valid until the next read.
func (s *Spool) readRecord() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		s.long = append(s.long[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = s.br.ReadSlice('\n')
			s.long = append(s.long, line...)
		}
		line = s.long
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the counted bytes end inside a record
	}
	if err != nil {
		s.rpos = -1 // unknown: seek on the next read
		return nil, err
	}
	s.rpos += int64(len(line))
	rec := line[:len(line)-1]
	if cap(s.long) > keepWriteBuf {
		s.long = nil // rec stays valid: it is the caller's until the next read
	}
	return rec, nil
}

// Ack acknowledges the first n records of the last Peek that are not yet
// acknowledged: it moves the cursor past them, persists it, and deletes
// the segments consumed. Records among them dropped since the Peek are
// left counted as dropped, and the cursor never moves backwards (see the
// package documentation). n larger than what is left of the Peek is an
// error. When persisting the cursor or removing a segment fails, the
// error is returned but the acknowledgement stands in memory; after a
// restart those records may be delivered again. Only the goroutine that
// calls Peek may call Ack.
func (s *Spool) Ack(n int) error {
	left := len(s.peek) - s.peekHead
	switch {
	case n < 0 || n > left:
		return fmt.Errorf("spool: ack: %d records, but %d peeked and not yet acknowledged", n, left)
	case s.closed.Load():
		return errClosed
	case n == 0:
		return nil
	}
	batch := s.peek[s.peekHead : s.peekHead+n]
	s.peekHead += n
	last := batch[n-1]

	s.mu.Lock()
	if !last.after(s.cur) { // all of them dropped since the Peek
		s.mu.Unlock()
		return nil
	}
	k := 0
	for !batch[k].after(s.cur) {
		k++
	}
	done := uint64(n - k)
	s.acked += done
	s.pending -= done
	doomed := s.rdoomed[:0]
	for s.segs[0].seq < last.seq { // the cursor's segment was consumed
		doomed = append(doomed, s.segs[0].seq)
		s.bytes -= s.segs[0].size
		s.segs = s.segs[1:]
	}
	s.cur = last
	doomed = s.advanceConsumed(doomed)
	cur := s.cur
	oldest := s.segs[0].seq
	s.mu.Unlock()
	s.rdoomed = doomed

	// The cursor first: a crash before the removals leaves consumed
	// segments that Open deletes; the other way round would deliver again.
	err := s.writeCursor(cur)
	if s.rf != nil && s.rseq < oldest {
		s.closeReader() // do not keep a deleted file's space
	}
	if rerr := s.removeSegs(doomed); err == nil {
		err = rerr
	}
	return err
}

// Close closes the files. The spool stays on disk for the next Open.
func (s *Spool) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.closeReader()
	if s.lock != nil {
		defer s.lock.Close() // releases the flock
	}
	if s.cf != nil {
		s.cf.Close()
	}
	if s.w != nil {
		if err := s.w.Close(); err != nil {
			return fileErr(s.w.Name(), "close segment", err)
		}
	}
	return nil
}
