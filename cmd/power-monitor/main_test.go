// SPDX-License-Identifier: LGPL-3.0-only

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The real binary, stopped by SIGTERM, exits 0 having written a complete
// trace: every line whole.
func TestSIGTERMStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "power-monitor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	trace := filepath.Join(dir, "node.trace")
	replay := filepath.Join("..", "..", "internal", "read", "source", "testdata", "replay-rapl_wattameter.log")
	cmd := exec.Command(bin, "-o", trace, "-r", "0.05", "--source=replay:"+replay, "--replay-speed=5")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "stopped: ") {
		t.Fatalf("stderr: %s", stderr.String())
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) < 6 || !strings.HasSuffix(string(b), "\n") {
		t.Fatalf("%d lines, ends %q", len(lines), b[len(b)-20:])
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, "{") || !strings.HasSuffix(l, "}") {
			t.Fatalf("line %d cut: %q", i+1, l)
		}
	}
}

func TestBadOptions(t *testing.T) {
	for args, want := range map[string]string{
		"--period=abc":   `option --period: "abc" is not a number of seconds`,
		"--duration=-1":  "option --duration",
		"--source=gpu":   `unknown source "gpu"`,
		"extra":          `unexpected argument "extra"`,
		"-r 2 --batch=1": "option --batch: 1 s is below the period of 2 s",
	} {
		var errb bytes.Buffer
		if rc := run(strings.Fields(args), &bytes.Buffer{}, &errb); rc != 1 || !strings.Contains(errb.String(), want) {
			t.Errorf("%s: rc %d, stderr %q, want %q", args, rc, errb.String(), want)
		}
	}
}

// A password given on the command line works, with a warning that ps
// shows it; a password file others can read is refused.
func TestPasswordOnTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	replay := "--source=replay:" + filepath.Join("..", "..", "internal", "read", "source", "testdata", "replay-rapl_wattameter.log")
	var errb bytes.Buffer
	// The broker is not there: the agent spools; the run ends at --duration.
	rc := run([]string{"-o", filepath.Join(dir, "t"), replay, "-r", "0.1", "--duration=0.3", "--flush-timeout=0",
		"--mqtt-broker=127.0.0.1", "--mqtt-port=1", "--mqtt-password=pw"}, &bytes.Buffer{}, &errb)
	if rc != 0 || !strings.Contains(errb.String(), "warning: mqtt-password is given as an argument, which every user of the node can read (ps)") {
		t.Fatalf("rc %d, stderr %s", rc, errb.String())
	}
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("pw\n"), 0o640)
	errb.Reset()
	rc = run([]string{"-o", filepath.Join(dir, "t"), replay, "--mqtt-broker=h", "--mqtt-password-file=" + pw}, &bytes.Buffer{}, &errb)
	if rc != 1 || !strings.Contains(errb.String(), "option --mqtt-password-file: "+pw+": readable by group or others (mode 0640)") {
		t.Fatalf("rc %d, stderr %s", rc, errb.String())
	}
}
