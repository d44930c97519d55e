// SPDX-License-Identifier: LGPL-3.0-only

// Package charge is the job's charge: what share of each rank's figures is
// the job's, the totals, the series' sums, and what a guest may ask to see.
// It computes a job's answer from the answers of its ranks; the messages
// themselves, their JSON and the series' column layout are internal/wire's.
//
//   - share.go: each rank's share of the node (ShareOf, from the job's R and
//     the instance's) and the job's part of the rank's figures under the
//     attribution rule (Attribute; Charge sets it on every rank).
//   - total.go: what the job is charged on a rank (Charged) and the job's
//     totals over its ranks (Totals; Summarize puts an answer in order).
//   - series.go: the window's series, each bucket charged by the same rule
//     and summed over the ranks (SumSeries).
//   - narrow.go: the ranks, window and inner job's share a request about a
//     job narrows it to, and what a guest is refused (Narrowing, CheckShare,
//     Denied).
package charge
