// SPDX-License-Identifier: LGPL-3.0-only

// Package aggregate integrates the power samples of one rank over a time
// window (a job) into energy, mean, minimum and maximum per domain.
//
// The samples come from a store as a Series: up to two contiguous segments
// of a ring buffer in insertion order, with timestamps in unix nanoseconds
// and float32 watts, one row of Layout.Columns() values per sample (node
// first, then CPU, memory and GPU values in index order; NaN = not
// measured), and for the columns that have a hardware energy counter (RAPL,
// NVML total energy, hwmon energy) one float64 row of cumulative joules per
// sample. Window reads the series and returns a Result, which is what goes
// out as JSON.
//
// # Semantics
//
// Power between two consecutive samples (in insertion order) is the linear
// interpolation of their values. The energy of a window [t0, t1] is the
// integral of that function clipped to the window: a trapezoid on every
// clipped sub-interval, with the interpolated value at a clip point. All
// integration is done in float64.
//
// A pair of consecutive samples whose time difference dt is <= 0 (the clock
// stepped back) or larger than maxGap = max(5*period, 1s) (the sampler
// stalled, or the clock stepped forward) is a discontinuity: it is neither
// integrated nor covered. Windowing is done by each pair's own timestamps in
// insertion order, so after a backward clock step inside a job every real
// sampling interval is still counted once (the runs before and after the step
// are each clipped to the window on their own). Because such runs can
// overlap in time, the covered time is capped at the window length.
//
// Edges: where the window begins before the oldest stored sample, or ends
// after the newest one, there is no neighbour sample beyond that edge; the
// nearest sample's value is then held (that time is covered), and beyond the
// hold the window is not covered. The oldest sample is held back for at most
// one period; the newest is held forward for at most maxGap, as long as a
// pair of samples may last, because its successor may not have been taken
// yet (a read in progress, a tick delayed on a loaded node). So a job shorter
// than one period, or a running job queried between two samples, is
// complete.
// A job shorter than one period with a sample before and after it is
// interpolated between them: it is covered and its energy is the integral.
//
// # Energy counters
//
// A domain with an energy counter gets its energy from the counter, pair by
// pair, under the same rules: for every pair of consecutive samples that
// the rules above integrate (not a discontinuity, clipped to the window)
// whose counters Ca and Cb are both valid, the energy of the clipped part
// [a, b] of the pair [ta, tb] is
//
//	(Cb - Ca) * (b - a) / (tb - ta)
//
// that is the whole counter difference for a pair inside the window, and
// its share in proportion to time for a pair cut by a window edge. A pair
// whose counter is NaN at either end (or decreases, which a source must
// not let happen) falls back to the power integral for that pair. Edge
// holds have no counter beyond them: they are the held power times the
// held time, as without counters. Coverage and the discontinuity rules are
// the same with or without counters, so a gap's energy is left out even
// though the counters would know it.
//
// Why: a counter accumulates the energy of every instant, including the
// transients between two samples that sampled power never sees; the
// integral of interpolated power is exact only if power is linear between
// samples. The counter difference is therefore the exact energy of a pair
// whatever the sampling period. Consecutive whole pairs with valid counters
// are summed as one difference (the counter at the end of the stretch minus
// the one at its start), so a window from one sample to another gets
// exactly Cj - Ci, with no rounding accumulated over the pairs between them
// (one RAPL unit is 1 uJ; a float64 resolves it up to 2^32 J, 50 days of a
// 1 kW domain).
//
// Domain.Method is MethodCounter when every part of the domain's energy
// came from counters, MethodPower when every part came from power
// (integrated pairs or edge holds; always so for a domain without a
// counter), and MethodMixed otherwise, for example a running job whose end
// is held after the newest sample, or a sample without a counter value.
// Parts of length 0 decide only when there is no other part. A pair whose
// power is NaN but whose counters are valid is covered for the domain and
// gets its energy from the counters. MinW and MaxW are still taken over
// the power values; MeanW is EnergyJ divided by the seconds covered for the
// domain.
//
// CoveredS is the time of the window covered by integrated pairs and edge
// holds; Coverage is CoveredS divided by the window length, in [0, 1].
// Coverage >= 0.999 is "complete"; above 0 it is "partial" and Reason names
// the cause of the largest uncovered part; 0 is "none" with its Reason:
//
//   - ReasonNotYetSampled: the window, or its start, precedes the first
//     sample ever taken by this store (beyond the one-period hold).
//   - ReasonOverwritten: samples of the window were lost to the ring
//     wrapping (the window starts before the oldest stored sample but after
//     the first sample ever taken).
//   - ReasonGap: the uncovered time lies in discontinuities between samples,
//     or after the newest sample by more than maxGap (the sampler
//     stopped or stalled).
//   - ReasonNoSamples: the store holds no sample at all.
//
// For a zero-length window (t0 == t1; t1 < t0 is treated as t1 = t0) the
// result is complete when the instant is covered; its energy is 0 and its
// mean is the value at that instant.
//
// Per domain: MinW and MaxW are taken over the measured values of the
// samples inside the window and the interpolated (or held) values at the
// ends of the covered intervals, so they are the extremes of the
// interpolated function on the covered part of the window. A value that is
// NaN leaves the pairs it belongs to out of that domain only: its energy is
// missing there, and MeanW = EnergyJ / the seconds covered for that domain,
// so the mean is not biased by the missing part (0 if nothing is covered).
// A domain without any measured value in the window is Measured=false with
// all numbers 0. When the window has no data at all (presence "none"),
// Measured tells whether the newest stored sample measures the domain, that
// is whether the platform can measure it.
//
// NodeDerived is passed through from the series: the node value is the sum
// of the measured components because the platform cannot measure the node.
//
// # Performance
//
// When the series is ordered (no backward clock step in the ring) the window
// is found by binary search on the timestamps and only the pairs inside it
// are visited, in one linear pass without allocations per sample; with
// counters, the pass also reads each sample's counter row once. Otherwise
// the timestamps are scanned once to split the series into ordered runs,
// each of which is searched the same way.
package aggregate
