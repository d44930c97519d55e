// SPDX-License-Identifier: LGPL-3.0-only

// Package testlog collects the log lines that code under test writes from
// several goroutines, for the tests to check.
package testlog

import (
	"strings"
	"sync"
)

// Log is a goroutine-safe list of lines.
type Log struct {
	mu  sync.Mutex
	all []string
}

// Add appends a line.
func (l *Log) Add(msg string) {
	l.mu.Lock()
	l.all = append(l.all, msg)
	l.mu.Unlock()
}

// String is every line so far, one per line.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}
