// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package fluxbind

/*
#include <stdlib.h>
#include <locale.h>
#include <flux/idset.h>
#include <flux/hostlist.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// ParseJobID accepts every jobid encoding users type: f58 (with 'ƒ' or
// 'f'), decimal, hex, dothex, kvs path and words (flux_job_id_parse).
func ParseJobID(s string) (uint64, error) {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	var id C.flux_jobid_t
	if C.flux_job_id_parse(cs, &id) < 0 {
		return 0, fmt.Errorf("invalid jobid %q", s)
	}
	return uint64(id), nil
}

// EncodeJobID prints a jobid as "f58", "dec", "hex", "dothex", "words"...
func EncodeJobID(id uint64, encoding string) string {
	ce := C.CString(encoding)
	defer C.free(unsafe.Pointer(ce))
	var buf [128]C.char
	if C.flux_job_id_encode(C.flux_jobid_t(id), ce, &buf[0], C.size_t(len(buf))) < 0 {
		return fmt.Sprint(id)
	}
	return C.GoString(&buf[0])
}

// JobListID asks job-list for the given attributes of job id
// (flux_job_list_id); attrsJSON is a JSON array of names.
func (h *Handle) JobListID(id uint64, attrsJSON string) (*Future, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	ca := C.CString(attrsJSON)
	defer C.free(unsafe.Pointer(ca))
	f, err := C.flux_job_list_id(h.h, C.flux_jobid_t(id), ca)
	if f == nil {
		return nil, fmt.Errorf("job-list.list-id: %w", err)
	}
	return &Future{h: h, f: f}, nil
}

// libfluxDecodeIDSet expands an RFC 22 idset through libflux. The product
// decodes idsets with wire.ParseIDSet alone (one rule, a size limit checked
// before anything is expanded); this is the reference its tests hold it to.
func libfluxDecodeIDSet(s string) ([]uint32, error) {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	ids := C.idset_decode(cs)
	if ids == nil {
		return nil, fmt.Errorf("invalid idset %q", s)
	}
	defer C.idset_destroy(ids)
	var out []uint32
	for i := C.idset_first(ids); i != C.IDSET_INVALID_ID; i = C.idset_next(ids, i) {
		out = append(out, uint32(i))
	}
	return out, nil
}

// libfluxEncodeIDSet prints ids as a compact RFC 22 idset through libflux:
// the reference of wire.FormatIDSet's tests.
func libfluxEncodeIDSet(ids []uint32) string {
	set := C.idset_create(0, C.IDSET_FLAG_AUTOGROW)
	if set == nil {
		return ""
	}
	defer C.idset_destroy(set)
	for _, id := range ids {
		C.idset_set(set, C.uint(id))
	}
	s := C.idset_encode(set, C.IDSET_FLAG_RANGE)
	if s == nil {
		return ""
	}
	defer C.free(unsafe.Pointer(s))
	return C.GoString(s)
}

// JobStateName is the long name of a job state ("RUN", "INACTIVE", ...).
func JobStateName(state int) string {
	cf := C.CString("L")
	defer C.free(unsafe.Pointer(cf))
	return C.GoString(C.flux_job_statetostr(C.flux_job_state_t(state), cf))
}

// DecodeHostlist expands an RFC 29 hostlist ("node[0-3],login") into hosts.
func DecodeHostlist(s string) []string {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	hl := C.hostlist_decode(cs)
	if hl == nil {
		return nil
	}
	defer C.hostlist_destroy(hl)
	var out []string
	for h := C.hostlist_first(hl); h != nil; h = C.hostlist_next(hl) {
		out = append(out, C.GoString(h))
	}
	return out
}

// SetLocale adopts the user's locale (setlocale(LC_ALL, "")), as flux's own
// commands do, so that EncodeJobID prints "ƒ" in a UTF-8 locale and "f"
// otherwise (or when FLUX_F58_FORCE_ASCII is set).
func SetLocale() {
	empty := C.CString("")
	defer C.free(unsafe.Pointer(empty))
	C.setlocale(C.LC_ALL, empty)
}
