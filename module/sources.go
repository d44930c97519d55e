// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"encoding/json"
	"syscall"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// sourcesCB answers power-monitor.sources: the power sources this rank
// found, the ones it samples, and why each other one is missing.
func (m *monitor) sourcesCB(msg *fluxbind.Msg) {
	resp := m.sourcesResponse()
	out, err := json.Marshal(&resp)
	if err != nil {
		m.h.RespondError(msg, syscall.EINVAL, err.Error())
		return
	}
	m.h.Respond(msg, out)
}

func (m *monitor) sourcesResponse() wire.SourcesResponse {
	resp := wire.SourcesResponse{Rank: m.rank, Hostname: m.hostName(m.rank), Source: m.sourceName(),
		Sources: []wire.SourceStatus{}}
	for _, s := range m.node.Statuses() {
		resp.Sources = append(resp.Sources, wire.SourceStatus(s))
	}
	if m.node.Source() != nil {
		resp.Provenance = m.node.Source().Provenance()
		if errs := m.node.Source().Errors(); len(errs) > 0 {
			resp.Errors = errs
		}
	}
	return resp
}
