// SPDX-License-Identifier: LGPL-3.0-only

// Package variorum reads node power from LLNL's Variorum library: Parse turns
// the JSON of variorum_get_power_json (v0.8) or variorum_get_node_power_json
// (v0.6, v0.7) into a sample.Reading, and Lib (lib.go) loads libvariorum at
// run time and calls it.
//
// The shapes Parse accepts are those the Variorum sources write; testdata/
// holds one fixture per version and platform, and testdata/README.md says
// where each comes from. In short:
//
//   - v0.6 and v0.7 write one flat object: "host", "timestamp",
//     "power_node_watts" and per socket N "power_cpu_watts_socket_N",
//     "power_mem_watts_socket_N", "power_gpu_watts_socket_N" (the GPU value is
//     one number per socket). ARM Neoverse N1 (v0.7) writes "power_cpu_watts"
//     and "power_io_watts" with no socket suffix and no node power.
//   - v0.8 wraps everything in one object keyed by the host name: "timestamp",
//     "power_node_watts", "num_gpus_per_socket", and objects "socket_N" with
//     "power_cpu_watts", "power_mem_watts" and "power_gpu_watts", the latter a
//     number (ARM Juno) or an object {"GPU_k": watts} whose k counts across the
//     node (socket_1 of a 2-GPU-per-socket node holds GPU_2 and GPU_3).
//
// Variorum writes -1 for a quantity the platform cannot measure; Parse makes
// any negative value NaN (sample.Unmeasured).
package variorum

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/flux-framework/power-monitor/internal/sample"
)

// maxSocketIndex bounds the N of socket_N; anything larger is not Variorum's.
const maxSocketIndex = 1 << 20

// component is one per-socket quantity.
type component int

const (
	cpu component = iota
	mem
	gpu
)

var componentNames = [...]string{cpu: "CPU", mem: "memory", gpu: "GPU"}

// componentKey maps the key of a value inside a socket object (v0.8), or the
// key without its "_socket_N" suffix (v0.6, v0.7), to its component.
var componentKey = map[string]component{
	"power_cpu_watts": cpu,
	"power_mem_watts": mem,
	"power_gpu_watts": gpu,
}

// socket holds what was read for one socket.
type socket struct {
	index     int
	has       [3]bool
	cpu, mem  float64
	gpus      []float64
	gpuNumber bool // the GPU power was one number, not an object of GPUs
}

// Parser parses Variorum power JSON documents into readings, reusing its
// memory from one document to the next: once it has seen a node's
// document, parsing the next into the same reading allocates nothing. The
// zero Parser is ready; it is for one goroutine at a time.
type Parser struct {
	sockets []socket // of the document being parsed, its arrays kept
	devs    []dev    // the GPUs of one socket object, scratch
}

// dev is one GPU of a socket's GPU object.
type dev struct {
	key   string
	n     uint64
	hasN  bool
	watts float64
}

// Parse reads one Variorum power JSON document into a new reading; see
// Parser.Parse.
func Parse(js []byte) (sample.Reading, error) {
	var p Parser
	var r sample.Reading
	if err := p.Parse(js, &r); err != nil {
		return sample.Reading{}, err
	}
	return r, nil
}

// Parse reads one Variorum power JSON document into r (sample.Reading's
// Reset and reuse; r has no counters).
//
// Node is power_node_watts. CPU[i] and Mem[i] are the values of the i-th
// socket in socket index order (socket_10 after socket_2). GPU values are
// flattened across sockets in socket order: a number is one GPU for its
// socket, an object holds one GPU per key, sorted by the number in the key
// (GPU_10 after GPU_2). A component that no socket reports has no entries;
// when some socket reports it, the sockets that do not get NaN so that
// CPU[i] and Mem[i] stay socket i (for GPUs only when every socket that
// reports GPUs gives one number per socket; GPUs listed per device are not
// padded). Negative values (Variorum's -1) become NaN. When the node power is
// not measured, it is derived from the components (see sample.DeriveNode).
// After an error r holds nothing usable.
func (p *Parser) Parse(js []byte, r *sample.Reading) error {
	node, _, err := locate(js)
	if err != nil {
		return err
	}

	r.Reset(sample.Layout{})
	p.sockets = p.sockets[:0]
	haveNode := false

	node.ForEach(func(k, v gjson.Result) bool {
		key := k.Str
		switch {
		case key == "power_node_watts":
			if haveNode {
				err = errorf("power_node_watts given twice")
				return false
			}
			haveNode = true
			r.Node, err = number(v, "power_node_watts", "")
		case isSocketKey(key):
			var i int
			if i, err = socketIndex(key, key[len("socket_"):]); err != nil {
				return false
			}
			if !v.IsObject() {
				err = errorf("%s is %s, want an object", key, typeName(v))
				return false
			}
			s := p.socket(i)
			v.ForEach(func(ck, cv gjson.Result) bool {
				if c, ok := componentKey[ck.Str]; ok {
					err = p.set(s, c, cv, key, ck.Str)
				}
				return err == nil
			})
		default:
			c, i, ok, ferr := flatKey(key)
			if !ok {
				return true // timestamp, host, num_gpus_per_socket, power_io_watts, ...
			}
			if err = ferr; err == nil {
				err = p.set(p.socket(i), c, v, key, "")
			}
		}
		return err == nil
	})
	if err != nil {
		return err
	}

	// Sockets that carried no power value at all are not power data.
	n := 0
	for i := range p.sockets {
		if s := &p.sockets[i]; s.has[cpu] || s.has[mem] || s.has[gpu] {
			p.sockets[n], p.sockets[i] = p.sockets[i], p.sockets[n] // (keeps every gpus array)
			n++
		}
	}
	ss := p.sockets[:n]
	if !haveNode && len(ss) == 0 {
		return errorf("no power_node_watts and no socket data")
	}
	for i := 1; i < len(ss); i++ { // by index; a handful of sockets
		for j := i; j > 0 && ss[j].index < ss[j-1].index; j-- {
			ss[j], ss[j-1] = ss[j-1], ss[j]
		}
	}

	var any [3]bool
	gpuPerDevice := false
	for i := range ss {
		s := &ss[i]
		for c := range any {
			any[c] = any[c] || s.has[c]
		}
		if s.has[gpu] && !s.gpuNumber {
			gpuPerDevice = true
		}
	}
	for i := range ss {
		s := &ss[i]
		if any[cpu] {
			r.CPU = append(r.CPU, s.value(cpu))
		}
		if any[mem] {
			r.Mem = append(r.Mem, s.value(mem))
		}
		switch {
		case s.has[gpu]:
			r.GPU = append(r.GPU, s.gpus...)
		case any[gpu] && !gpuPerDevice:
			r.GPU = append(r.GPU, sample.Unmeasured)
		}
	}
	r.DeriveNode()
	return nil
}

// socket returns the socket of index i, adding it (reusing a slot's
// arrays) the first time.
func (p *Parser) socket(i int) *socket {
	for k := range p.sockets {
		if p.sockets[k].index == i {
			return &p.sockets[k]
		}
	}
	if len(p.sockets) < cap(p.sockets) {
		p.sockets = p.sockets[:len(p.sockets)+1]
		s := &p.sockets[len(p.sockets)-1]
		*s = socket{index: i, gpus: s.gpus[:0]}
		return s
	}
	p.sockets = append(p.sockets, socket{index: i})
	return &p.sockets[len(p.sockets)-1]
}

// Hostname returns the host name in a Variorum power JSON document: the key
// of the wrapping object (v0.8) or the "host" value (v0.6, v0.7). It returns
// "" when the document has none or is not Variorum power JSON.
func Hostname(js []byte) string {
	_, host, err := locate(js)
	if err != nil {
		return ""
	}
	return strings.Clone(host)
}

// locate validates js and returns the object that holds the power values,
// and the host name when the document has one. Both are views of js (no
// copy): they are valid while js is not changed.
func locate(js []byte) (node gjson.Result, host string, err error) {
	if len(bytes.TrimSpace(js)) == 0 {
		return node, "", errorf("empty input")
	}
	if !gjson.ValidBytes(js) {
		return node, "", notJSON(js)
	}
	root := gjson.Parse(unsafe.String(&js[0], len(js)))
	if !root.IsObject() {
		return node, "", errorf("top level is %s, want an object", typeName(root))
	}
	flat := false
	members := 0
	var first string
	var only gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		if isFlatKey(k.Str, v) {
			flat = true
			return false
		}
		if members == 0 {
			first, only = k.Str, v
		}
		members++
		return true
	})
	switch {
	case flat:
		if h := root.Get("host"); h.Type == gjson.String {
			host = h.Str
		}
		return root, host, nil
	case members == 1 && only.IsObject():
		return only, first, nil
	case members == 0:
		return node, "", errorf("empty object: no power_node_watts and no socket data")
	case members > 1 && allObjects(root):
		var keys []string
		root.ForEach(func(k, _ gjson.Result) bool {
			keys = append(keys, k.Str)
			return true
		})
		return node, "", errorf("%d top-level objects (%s): want the one of a single host",
			members, quoteList(keys, 3))
	}
	return node, "", errorf("no power_node_watts and no socket data")
}

// isFlatKey reports whether a top-level member is one of the flat (v0.6,
// v0.7) document rather than a host name wrapping a v0.8 document.
func isFlatKey(key string, v gjson.Result) bool {
	switch key {
	case "host":
		return v.Type == gjson.String
	case "timestamp", "num_gpus_per_socket":
		return v.Type == gjson.Number
	case "power_node_watts":
		return true
	}
	if isSocketKey(key) {
		return true
	}
	_, _, ok, _ := flatKey(key)
	return ok
}

func allObjects(root gjson.Result) bool {
	all := true
	root.ForEach(func(_, v gjson.Result) bool {
		all = v.IsObject()
		return all
	})
	return all
}

// isSocketKey reports whether key names a socket object: "socket_N". The
// match ignores case, for Variorum v0.8 on ARM Neoverse N1 writes "Socket_N".
func isSocketKey(key string) bool {
	const p = "socket_"
	return len(key) > len(p) && strings.EqualFold(key[:len(p)], p) && allDigits(key[len(p):])
}

// flatKey recognises the flat per-socket keys "power_cpu_watts_socket_N"
// (and mem, gpu) and the unsuffixed "power_cpu_watts" (and mem, gpu) that
// stand for socket 0 (Variorum v0.7 on ARM Neoverse N1). ok is false for any
// other key; err is set when the socket index is out of range.
func flatKey(key string) (c component, i int, ok bool, err error) {
	if c, ok := componentKey[key]; ok {
		return c, 0, true, nil
	}
	base, n, found := strings.Cut(key, "_socket_")
	if !found {
		return 0, 0, false, nil
	}
	c, ok = componentKey[base]
	if !ok || !allDigits(n) {
		return 0, 0, false, nil
	}
	i, err = socketIndex(key, n)
	return c, i, true, err
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func socketIndex(key, digits string) (int, error) {
	if len(digits) > 7 {
		return 0, errorf("socket index in %q is too large", key)
	}
	i, err := strconv.Atoi(digits)
	if err != nil || i < 0 || i > maxSocketIndex {
		return 0, errorf("socket index in %q is too large", key)
	}
	return i, nil
}

// set records component c of socket s from v; key, and sub within it when
// not "", name it in errors.
func (p *Parser) set(s *socket, c component, v gjson.Result, key, sub string) error {
	if s.has[c] {
		return errorf("socket %d %s power given twice (again as %s)", s.index, componentNames[c], what(key, sub))
	}
	s.has[c] = true
	var err error
	switch c {
	case cpu:
		s.cpu, err = number(v, key, sub)
	case mem:
		s.mem, err = number(v, key, sub)
	case gpu:
		s.gpuNumber, err = p.gpus(s, v, key, sub)
	}
	return err
}

// what names a value in errors: key, or key.sub.
func what(key, sub string) string {
	if sub == "" {
		return key
	}
	return key + "." + sub
}

func (s *socket) value(c component) float64 {
	if !s.has[c] {
		return sample.Unmeasured
	}
	if c == cpu {
		return s.cpu
	}
	return s.mem
}

// gpus reads a socket's GPU power into s.gpus: one number, or an object of
// one number per GPU, ordered by the number in each key. key and sub name
// the value in errors.
func (p *Parser) gpus(s *socket, v gjson.Result, key, sub string) (isNumber bool, err error) {
	s.gpus = s.gpus[:0]
	if !v.IsObject() {
		f, err := number(v, key, sub)
		s.gpus = append(s.gpus, f)
		return true, err
	}
	devs := p.devs[:0]
	v.ForEach(func(k, gv gjson.Result) bool {
		dk := k.Str
		for i := range devs {
			if devs[i].key == dk {
				err = errorf("%s: %s given twice", what(key, sub), dk)
				return false
			}
		}
		d := dev{key: dk}
		d.n, d.hasN = trailingNumber(dk)
		if d.watts, err = number(gv, key, sub); err != nil {
			err = errorf("%s.%s is %s, want a number", what(key, sub), dk, typeName(gv))
		}
		devs = append(devs, d)
		return err == nil
	})
	p.devs = devs
	if err != nil {
		return false, err
	}
	slices.SortStableFunc(devs, func(da, db dev) int {
		if da.hasN != db.hasN {
			if da.hasN { // numbered GPUs first
				return -1
			}
			return 1
		}
		if da.hasN && da.n != db.n {
			return cmp.Compare(da.n, db.n)
		}
		return strings.Compare(da.key, db.key)
	})
	for _, d := range devs {
		s.gpus = append(s.gpus, d.watts)
	}
	clear(devs) // (the keys are views of the document)
	return false, nil
}

// trailingNumber returns the decimal number that ends s ("GPU_12" -> 12).
func trailingNumber(s string) (uint64, bool) {
	j := len(s)
	for j > 0 && s[j-1] >= '0' && s[j-1] <= '9' {
		j--
	}
	if j == len(s) {
		return 0, false
	}
	n, err := strconv.ParseUint(s[j:], 10, 64)
	if err != nil {
		return math.MaxUint64, true // absurdly long: after every other
	}
	return n, true
}

// number reads a power value in watts. Negative (Variorum's -1 for "cannot
// measure"), non-finite and null values are NaN; other types are an error,
// which names the value key (key.sub when sub is not "").
func number(v gjson.Result, key, sub string) (float64, error) {
	switch v.Type {
	case gjson.Number:
		f := v.Num
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			return sample.Unmeasured, nil
		}
		return f + 0, nil // +0 turns -0 into 0
	case gjson.Null:
		return sample.Unmeasured, nil
	}
	return 0, errorf("%s is %s, want a number", what(key, sub), typeName(v))
}

func typeName(v gjson.Result) string {
	switch v.Type {
	case gjson.Null:
		return "null"
	case gjson.False, gjson.True:
		return "a boolean"
	case gjson.Number:
		return "a number"
	case gjson.String:
		return "a string"
	}
	if v.IsArray() {
		return "an array"
	}
	return "an object"
}

func quoteList(s []string, max int) string {
	var q []string
	for i, x := range s {
		if i == max {
			q = append(q, "...")
			break
		}
		q = append(q, strconv.Quote(x))
	}
	return strings.Join(q, ", ")
}

// notJSON explains why js is not JSON, with the decoder's message and the
// start of the input.
func notJSON(js []byte) error {
	head := js
	if len(head) > 40 {
		head = head[:40]
	}
	var raw json.RawMessage
	err := json.Unmarshal(js, &raw)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return errorf("not JSON: %v at byte %d (input starts %q)", se, se.Offset, head)
	}
	return errorf("not JSON (input starts %q)", head)
}

func errorf(format string, args ...any) error {
	return fmt.Errorf("variorum JSON: "+format, args...)
}
