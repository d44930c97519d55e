// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"github.com/flux-framework/power-monitor/internal/read/sampler"
	"github.com/flux-framework/power-monitor/internal/sample"
)

// Part is one opened source and the kind it was asked as ("variorum",
// "rapl", "nvml", "hwmon", "estimate", "replay").
type Part struct {
	Kind   string
	Source sampler.Source
}

// Merged reads several sources into one reading: each domain (node; CPU,
// memory and GPUs) comes from the first part, in list order, that provides
// it, so CPU and memory can come from RAPL and GPUs from NVML. Parts that
// provide nothing the others do not are left out. It is itself a
// sampler.Source.
type Merged struct {
	parts  []*mpart
	layout sample.Layout
	// which part provides each kind of domain; nil: none
	node, cpu, mem, gpu *mpart

	mu   sync.Mutex // guards the errors, read by stats on another thread
	errs map[*mpart]string

	cres cResult // set (on) while ParseC reads the one part from a C call's result
}

// cResult is what the clock thread's C call returned (ParseC).
type cResult struct {
	on        bool
	c         sampler.CSource
	rc        int
	js        []byte
	gotString bool
}

type mpart struct {
	Part
	provides sample.Layout
	node     bool
	r        sample.Reading // the part's reading, filled at every Read
}

// Merge reads every part once to learn what it provides and returns the
// merged source. A part whose first read fails is dropped, with its error in
// the returned map (kind -> error). It fails when no part works.
func Merge(parts []Part) (*Merged, map[string]error, error) {
	m := &Merged{errs: map[*mpart]string{}}
	dropped := map[string]error{}
	for _, p := range parts {
		mp := &mpart{Part: p}
		if err := p.Source.Read(&mp.r); err != nil {
			dropped[p.Kind] = err
			continue
		}
		r := &mp.r
		mp.provides, mp.node = r.Layout(), sample.Measured(r.Node) && !r.NodeDerived
		used := false
		if mp.node && m.node == nil {
			m.node, used = mp, true
		}
		if mp.provides.CPU > 0 && m.cpu == nil {
			m.cpu, used = mp, true
		}
		if mp.provides.Mem > 0 && m.mem == nil {
			m.mem, used = mp, true
		}
		if mp.provides.GPU > 0 && m.gpu == nil {
			m.gpu, used = mp, true
		}
		if !used {
			dropped[p.Kind] = fmt.Errorf("%s provides nothing that %s does not", p.Source.Name(), m.kinds())
			continue
		}
		m.parts = append(m.parts, mp)
	}
	if len(m.parts) == 0 {
		var msgs []string
		for _, p := range parts {
			if err := dropped[p.Kind]; err != nil {
				msgs = append(msgs, err.Error())
			}
		}
		if len(msgs) == 0 {
			return nil, dropped, errors.New("no power source given")
		}
		return nil, dropped, errors.New(strings.Join(msgs, "; "))
	}
	if m.cpu != nil {
		m.layout.CPU = m.cpu.provides.CPU
	}
	if m.mem != nil {
		m.layout.Mem = m.mem.provides.Mem
	}
	if m.gpu != nil {
		m.layout.GPU = m.gpu.provides.GPU
	}
	return m, dropped, nil
}

func (m *Merged) kinds() string {
	var ks []string
	for _, p := range m.parts {
		ks = append(ks, p.Kind)
	}
	if len(ks) == 0 {
		return "the others"
	}
	return strings.Join(ks, "+")
}

// Name names the parts: "variorum (...)", or "rapl (...) + nvml (...)".
func (m *Merged) Name() string {
	var names []string
	for _, p := range m.parts {
		names = append(names, p.Source.Name())
	}
	return strings.Join(names, " + ")
}

// Provenance says which source provides each kind of domain ("node", "cpu",
// "mem", "gpu"); a node whose power is the sum of the domains says so.
func (m *Merged) Provenance() map[string]string {
	out := map[string]string{}
	for kind, p := range map[string]*mpart{"node": m.node, "cpu": m.cpu, "mem": m.mem, "gpu": m.gpu} {
		if p != nil {
			out[kind] = p.Kind
		}
	}
	if m.node == nil {
		out["node"] = "sum of " + m.kinds()
	}
	return out
}

// Errors returns the last read error of each part that failed its last read.
func (m *Merged) Errors() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for p, e := range m.errs {
		out[p.Kind] = e
	}
	return out
}

// CEntry is the one part's C entry point where the merge has only one part
// and that part is a sampler.CSource; else nil (the sampler calls Read).
func (m *Merged) CEntry() unsafe.Pointer {
	if len(m.parts) != 1 {
		return nil
	}
	if c, ok := m.parts[0].Source.(sampler.CSource); ok {
		return c.CEntry()
	}
	return nil
}

// ParseC composes the reading from the one part's C call (CEntry).
func (m *Merged) ParseC(rc int, js []byte, gotString bool, out *sample.Reading) error {
	c, ok := m.parts[0].Source.(sampler.CSource)
	if len(m.parts) != 1 || !ok {
		return errors.New("merge: ParseC on a merge that is not one C source")
	}
	m.cres = cResult{on: true, c: c, rc: rc, js: js, gotString: gotString}
	defer func() { m.cres = cResult{} }()
	return m.Read(out)
}

// Read reads every part and composes one reading. A part that fails leaves
// its domains unmeasured (NaN) in this reading; Read fails only when every
// part fails.
func (m *Merged) Read(out *sample.Reading) error {
	out.Reset(m.layout)
	var energy *sample.Energy
	var failed []string
	for _, p := range m.parts {
		r := &p.r
		var err error
		if m.cres.on {
			err = m.cres.c.ParseC(m.cres.rc, m.cres.js, m.cres.gotString, r)
		} else {
			err = p.Source.Read(r)
		}
		m.mu.Lock()
		if err != nil {
			m.errs[p] = err.Error()
		} else if len(m.errs) > 0 {
			delete(m.errs, p)
		}
		m.mu.Unlock()
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, p.Kind+":") { // a source's errors may name it already
				msg = p.Kind + ": " + msg
			}
			failed = append(failed, msg)
			continue
		}
		if r.Energy.Counted() && energy == nil {
			energy = out.Counters()
		}
		if m.node == p {
			out.Node = r.Node
			if r.Energy != nil && energy != nil {
				energy.Node = r.Energy.Node
			}
		}
		if m.cpu == p {
			copy(out.CPU, r.CPU)
			if r.Energy != nil && energy != nil {
				copy(energy.CPU, r.Energy.CPU)
			}
		}
		if m.mem == p {
			copy(out.Mem, r.Mem)
			if r.Energy != nil && energy != nil {
				copy(energy.Mem, r.Energy.Mem)
			}
		}
		if m.gpu == p {
			copy(out.GPU, r.GPU)
			if r.Energy != nil && energy != nil {
				copy(energy.GPU, r.Energy.GPU)
			}
		}
	}
	if len(failed) == len(m.parts) {
		return errors.New(strings.Join(failed, "; "))
	}
	out.DeriveNode()
	return nil
}
