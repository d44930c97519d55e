// SPDX-License-Identifier: LGPL-3.0-only

//go:build !cgo

package sampler

func startClock(s *Sampler) clock { return startGoClock(s) }
