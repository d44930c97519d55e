// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package fluxbind

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
)

// Functions posted from many goroutines all run, on the reactor thread, in
// the order each goroutine posted them; a panic in one is recovered and the
// next ones still run; after Close nothing runs and nothing is left
// registered.
func TestBridgeRunsPostsOnReactor(t *testing.T) {
	h := open(t)
	live := h.Live()
	b, err := h.NewBridge()
	if err != nil {
		t.Fatal(err)
	}
	var panics []any
	h.OnPanic = func(v any) { panics = append(panics, v) }
	const goroutines, posts = 4, 200
	reactor := syscall.Gettid()
	next := make([]int, goroutines) // the next index expected from each goroutine
	ran, offThread := 0, 0
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range posts {
				if g == 0 && i == posts/2 {
					b.Post(func() { panic("posted panic") })
				}
				b.Post(func() {
					if syscall.Gettid() != reactor {
						offThread++
					}
					if next[g] != i {
						t.Errorf("goroutine %d: post %d ran when %d was expected", g, i, next[g])
					}
					next[g] = i + 1
					if ran++; ran == goroutines*posts {
						h.Stop()
					}
				})
			}
		}()
	}
	timeout, err := h.Timer(10, func() { t.Errorf("only %d of %d posts ran in 10s", ran, goroutines*posts); h.Stop() })
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	timeout.Destroy()
	wg.Wait()
	if ran != goroutines*posts || offThread != 0 {
		t.Errorf("%d posts ran, %d off the reactor thread; want %d, 0", ran, offThread, goroutines*posts)
	}
	if len(panics) != 1 || fmt.Sprint(panics[0]) != "posted panic" {
		t.Errorf("recovered panics %v, want the one posted", panics)
	}
	// Flush runs what is queued without the reactor.
	flushed := false
	done := make(chan struct{})
	go func() { b.Post(func() { flushed = true }); close(done) }()
	<-done
	b.Flush()
	if !flushed {
		t.Error("Flush did not run the function queued")
	}
	b.Close()
	b.Post(func() { t.Error("a function posted after Close ran") })
	b.Flush()
	if _, err := h.Timer(0.1, h.Stop); err != nil {
		t.Fatal(err)
	}
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	if n := h.Live() - live; n != 1 { // the fired timer, released by Close
		t.Errorf("%d callbacks live after the bridge's Close, want 1 (the timer)", n)
	}
}
