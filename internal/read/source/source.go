// SPDX-License-Identifier: LGPL-3.0-only

// Package source holds the power sources a rank can read: one collector per
// kind of sensor, each behind sampler.Source. Variorum is the first; native
// sources (RAPL, NVML, hwmon) sit beside it.
package source
