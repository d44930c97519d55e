// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package fluxbind

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
)

// RPCStream sends a request flagged FLUX_RPC_STREAMING (RFC 6): the service
// answers with any number of responses, and an error response ends the
// stream (ENODATA when the service ends it normally, for example when it
// unloads or the request was cancelled). Register a callback with
// Then(-1, cb); in cb, read the current response with Get, then call Next
// to receive the following one. After an error the future is spent:
// Destroy it.
func (h *Handle) RPCStream(topic, payload string, nodeid uint32) (*Future, error) {
	return h.rpc(topic, payload, nodeid, C.FLUX_RPC_STREAMING)
}

// Next readies a streaming RPC's future for its next response
// (flux_future_reset): the Then callback runs again when it arrives, or at
// once when it is already there.
func (fu *Future) Next() {
	if fu.h.check() == nil && fu.f != nil {
		C.flux_future_reset(fu.f)
	}
}

// Cancel asks the service to end a streaming RPC, the RFC 6 way: a request
// to cancelTopic (for job-manager.events-journal, that is
// job-manager.events-journal-cancel) carrying the stream's matchtag, sent
// to the same nodeid without expecting an answer. The service then ends
// the stream with ENODATA. The future stays valid; Destroy it when the
// last response is not wanted.
func (fu *Future) Cancel(cancelTopic string, nodeid uint32) error {
	if err := fu.h.check(); err != nil {
		return err
	}
	if fu.f == nil {
		return fmt.Errorf("cancelling through %s: the future is destroyed", cancelTopic)
	}
	payload, _ := json.Marshal(map[string]uint32{"matchtag": uint32(C.flux_rpc_get_matchtag(fu.f))})
	cf, err := fu.h.rpc(cancelTopic, string(payload), nodeid, C.FLUX_RPC_NORESPONSE)
	if err != nil {
		return err
	}
	cf.Destroy()
	return nil
}
