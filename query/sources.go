// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"syscall"
	"time"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/report"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// runSources asks every rank at once which power sources it found and
// prints them; a rank without the module, or silent past the timeout, is
// listed as not answering.
func runSources(o options, stdout io.Writer, fail func(string, ...any) int) int {
	h, err := fluxbind.Open("")
	if err != nil {
		return fail("%v (run it inside a Flux instance, or set FLUX_URI)", err)
	}
	defer h.Close()
	sizeAttr, err := h.Attr("size")
	if err != nil {
		return fail("%v", err)
	}
	size, _ := strconv.Atoi(sizeAttr)
	futures := make([]*fluxbind.Future, size)
	for r := 0; r < size; r++ {
		if futures[r], err = h.RPC(wire.TopicSources, "{}", uint32(r)); err != nil {
			return fail("%v", err)
		}
	}
	var doc report.SourcesDoc
	hosts := []string{}
	if hl, err := h.Attr("hostlist"); err == nil {
		hosts = fluxbind.DecodeHostlist(hl)
	}
	// All ranks were asked at once: one deadline for all of them.
	deadline := time.Now().Add(time.Duration(o.timeout * float64(time.Second)))
	for r, fu := range futures {
		ms := wire.Missing{Rank: uint32(r), Reason: wire.ReasonNoAnswer}
		if r < len(hosts) {
			ms.Hostname = hosts[r]
		}
		if err := fu.WaitFor(max(0, time.Until(deadline).Seconds())); err != nil {
			ms.Error = "no answer within " + strconv.FormatFloat(o.timeout, 'g', -1, 64) + "s"
			doc.Missing = append(doc.Missing, ms)
			fu.Destroy()
			continue
		}
		out, err := fu.Get()
		fu.Destroy()
		var rs wire.SourcesResponse
		if err == nil {
			err = json.Unmarshal([]byte(out), &rs)
		}
		if err != nil {
			var re *fluxbind.RPCError
			if errors.As(err, &re) && re.Errno == syscall.ENOSYS {
				ms.Reason = wire.ReasonNotLoaded
			} else {
				ms.Error = err.Error()
			}
			doc.Missing = append(doc.Missing, ms)
			continue
		}
		doc.Ranks = append(doc.Ranks, rs)
	}
	if err := emit(o, stdout, func(w io.Writer) error { return report.Sources(w, o.format, &doc) }); err != nil {
		return fail("%v", err)
	}
	return 0
}
