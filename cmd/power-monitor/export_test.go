// SPDX-License-Identifier: LGPL-3.0-only

package main

// The agent against a real Mosquitto and a real Prometheus
// (internal/testservers): SIGTERM flushes the last batch to every sink, and
// bad credentials give a clear error while the local file keeps everything.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/flux-framework/power-monitor/internal/testservers"
)

func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "power-monitor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// traceSamples counts the samples of a trace file (all lines but the header).
func traceSamples(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n") - 1
}

var replayRAPL = "--source=replay:" + filepath.Join("..", "..", "internal", "read", "source", "testdata", "replay-rapl_wattameter.log")

func TestSIGTERMFlushesEverySink(t *testing.T) {
	bin := buildAgent(t)
	b := testservers.Mosquitto(t, testservers.MosquittoOptions{})
	p := testservers.Prometheus(t)

	var mu sync.Mutex
	got := map[int64]bool{}
	jobs := 0
	c := paho.NewClient(paho.NewClientOptions().AddBroker(fmt.Sprintf("tcp://127.0.0.1:%d", b.Port)).SetClientID("t"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(0)
	c.Subscribe("power-monitor/#", 1, func(_ paho.Client, m paho.Message) {
		var head struct {
			TS int64 `json:"timestamp[ns]"`
		}
		json.Unmarshal(m.Payload(), &head)
		mu.Lock()
		defer mu.Unlock()
		if strings.HasPrefix(m.Topic(), "power-monitor/jobs/slurm-77/") {
			jobs++
		} else if m.Topic() == "power-monitor/replayreader/data" {
			got[head.TS] = true
		}
	}).WaitTimeout(5 * time.Second)

	dir := t.TempDir()
	trace := filepath.Join(dir, "node.trace")
	cmd := exec.Command(bin, "-o", trace, "-r", "0.05", replayRAPL, "--replay-speed=5",
		"--mqtt-broker=127.0.0.1", fmt.Sprintf("--mqtt-port=%d", b.Port),
		"--prometheus-remote-write="+p.WriteURL(), "--jobid=slurm-77")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	n := traceSamples(t, trace)
	time.Sleep(300 * time.Millisecond) // the subscriber's last deliveries
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n || jobs != 1 {
		t.Fatalf("trace has %d samples; the subscriber got %d samples and %d job summaries\n%s", n, len(got), jobs, stderr.String())
	}
	res, err := p.Query(`count_over_time(power_monitor_power_watts{device="cpu-0",source="replay"}[5m])`)
	if err != nil || len(res) != 1 || int(res[0].Value) != n {
		t.Fatalf("Prometheus has %v (%v), want %d samples", res, err, n)
	}
	if res, err := p.Query(`power_monitor_job_energy_joules{jobid="slurm-77",domain="all"}`); err != nil || len(res) != 1 || res[0].Value <= 0 {
		t.Fatalf("job summary in Prometheus: %v %v", res, err)
	}
	for _, want := range []string{"publishing to mqtt (tcp://127.0.0.1:", "publishing to prometheus remote-write",
		fmt.Sprintf("mqtt (tcp://127.0.0.1:%d): %d records delivered, 0 pending in the spool, 0 dropped", b.Port, n+1),
		"job slurm-77: "} {
		if !strings.Contains(stderr.String(), want) {
			t.Fatalf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestBadCredentialsKeepTheLocalFile(t *testing.T) {
	bin := buildAgent(t)
	b := testservers.Mosquitto(t, testservers.MosquittoOptions{Users: map[string]string{"flux": "right"}})
	dir := t.TempDir()
	pw := filepath.Join(dir, "pass")
	os.WriteFile(pw, []byte("wrong\n"), 0o600)
	trace := filepath.Join(dir, "node.trace")
	cmd := exec.Command(bin, "-o", trace, "-r", "0.05", replayRAPL, "--duration=1", "--flush-timeout=0.5",
		"--mqtt-broker=127.0.0.1", fmt.Sprintf("--mqtt-port=%d", b.Port), "--mqtt-password-file="+pw)
	cmd.Env = append(os.Environ(), "MQTT_USERNAME=flux", "MQTT_PASSWORD=ignored-the-file-wins")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the agent fails with its sink: %v\n%s", err, stderr.String())
	}
	n := traceSamples(t, trace)
	if n < 15 {
		t.Fatalf("the local file has %d samples\n%s", n, stderr.String())
	}
	for _, want := range []string{
		"connect: broker refused the credentials (not Authorized): check --mqtt-username and the password (--mqtt-password-file, MQTT_PASSWORD); records wait in the spool",
		fmt.Sprintf("0 records delivered, %d pending in the spool", n),
		fmt.Sprintf("records not delivered; they stay in the spool %s.spool/mqtt for the next start", trace),
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Fatalf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// A second agent given the same trace file (hence the same spool) is
// refused at once with a message naming the spool and the holder; the
// first runs on and keeps its records.
func TestSecondAgentOnTheSameSpoolIsRefused(t *testing.T) {
	bin := buildAgent(t)
	dir := t.TempDir()
	trace := filepath.Join(dir, "node.trace")
	// port 1: nothing listens, every record stays in the spool
	args := []string{"-o", trace, "-r", "0.05", replayRAPL, "--mqtt-broker=127.0.0.1", "--mqtt-port=1", "--flush-timeout=0.2"}
	first := exec.Command(bin, args...)
	var firstErr strings.Builder
	first.Stderr = &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	spool := trace + ".spool"
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(filepath.Join(spool, "mqtt", "lock")); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, err := exec.Command(bin, append(args, "--duration=1")...).CombinedOutput()
	want := fmt.Sprintf("spool: %s is in use by process %d: give each its own --spool-dir", filepath.Join(spool, "mqtt"), first.Process.Pid)
	if err == nil || !strings.Contains(string(out), want) {
		t.Fatalf("second agent: %v\n%s\nwant %q", err, out, want)
	}
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first agent: %v\n%s", err, firstErr.String())
	}
	if !strings.Contains(firstErr.String(), "stopped: ") {
		t.Fatalf("first agent did not stop cleanly:\n%s", firstErr.String())
	}
}
