//go:build !cgo

package sampler

func startClock(s *Sampler) clock { return startGoClock(s) }
