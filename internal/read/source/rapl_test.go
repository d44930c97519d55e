// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"
)

func raplZoneFile(root, entry string) string {
	return filepath.Join(root, "class", "powercap", entry, "energy_uj")
}

var nanW = math.NaN()

// Two packages with DRAM: exact watts and joules over 250 ms windows (a
// binary fraction, so the expected values are exact), a wrap of package-1
// inside the first window, and a failed read whose interval the next read
// covers.
func TestRAPLServer(t *testing.T) {
	root := sysfsFixture(t, "sysfs-rapl-server.txt")
	clk := newSysfsClock()
	r, err := openRAPL(root, os.ReadFile, os.ReadDir, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Name(), "rapl (2 packages, dram: yes, psys: no)"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	pkg0, pkg1 := raplZoneFile(root, "intel-rapl:0"), raplZoneFile(root, "intel-rapl:1")
	dram0, dram1 := raplZoneFile(root, "intel-rapl:0:0"), raplZoneFile(root, "intel-rapl:1:0")

	clk.advance(250 * time.Millisecond)
	sysfsAdd(t, pkg0, 21_250_000) // 85 W
	// package-1 was at max-5 J: 5 J up to max, one µJ to reach 0, then
	// 17.499999 J: 22.5 J in all, 90 W.
	if got := sysfsGet(t, pkg1); got != 262143328850-5_000_000 {
		t.Fatalf("fixture: package-1 starts at %d", got)
	}
	sysfsSet(t, pkg1, 17_499_999)
	sysfsAdd(t, dram0, 3_000_000) // 12 W
	sysfsAdd(t, dram1, 2_750_000) // 11 W
	rd, err := readNew(r)
	if err != nil {
		t.Fatal(err)
	}
	checkFloat(t, "Node", rd.Node, nanW)
	if rd.NodeDerived {
		t.Error("NodeDerived set by the source")
	}
	checkFloats(t, "CPU", rd.CPU, []float64{85, 90})
	checkFloats(t, "Mem", rd.Mem, []float64{12, 11})
	checkFloats(t, "GPU", rd.GPU, nil)
	checkFloat(t, "Energy.Node", rd.Energy.Node, nanW)
	checkFloats(t, "Energy.CPU", rd.Energy.CPU, []float64{21.25, 22.5})
	checkFloats(t, "Energy.Mem", rd.Energy.Mem, []float64{3, 2.75})
	if w, rs := r.Wraps(); w != 1 || rs != 0 {
		t.Errorf("Wraps() = %d, %d; want 1, 0", w, rs)
	}

	// A read that fails changes nothing: the next one spans both windows.
	clk.advance(250 * time.Millisecond)
	if err := os.Rename(dram1, dram1+".away"); err != nil {
		t.Fatal(err)
	}
	_, err = readNew(r)
	if want := "rapl: " + dram1 + ": no such file or directory"; err == nil || err.Error() != want {
		t.Fatalf("Read() with %s missing: error %v, want %q", dram1, err, want)
	}
	if err := os.Rename(dram1+".away", dram1); err != nil {
		t.Fatal(err)
	}
	clk.advance(250 * time.Millisecond)
	sysfsAdd(t, pkg0, 2*21_250_000)
	sysfsAdd(t, pkg1, 2*22_500_000)
	sysfsAdd(t, dram0, 2*3_000_000)
	sysfsAdd(t, dram1, 2*2_750_000)
	rd, err = readNew(r)
	if err != nil {
		t.Fatal(err)
	}
	checkFloats(t, "CPU", rd.CPU, []float64{85, 90})
	checkFloats(t, "Mem", rd.Mem, []float64{12, 11})
	checkFloats(t, "Energy.CPU", rd.Energy.CPU, []float64{63.75, 67.5})
	checkFloats(t, "Energy.Mem", rd.Energy.Mem, []float64{9, 8.25})
}

// A client part: psys is the node, core and uncore are not added to the
// package, and the MMIO interface's second package-0 is not read.
func TestRAPLClientPsys(t *testing.T) {
	root := sysfsFixture(t, "sysfs-rapl-client.txt")
	clk := newSysfsClock()
	r, err := openRAPL(root, os.ReadFile, os.ReadDir, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Name(), "rapl (1 package, dram: yes, psys: yes)"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	clk.advance(500 * time.Millisecond)
	sysfsAdd(t, raplZoneFile(root, "intel-rapl:0"), 7_500_000)   // 15 W
	sysfsAdd(t, raplZoneFile(root, "intel-rapl:0:0"), 5_000_000) // core
	sysfsAdd(t, raplZoneFile(root, "intel-rapl:0:1"), 1_000_000) // uncore
	sysfsAdd(t, raplZoneFile(root, "intel-rapl:0:2"), 1_000_000) // dram, 2 W
	sysfsAdd(t, raplZoneFile(root, "intel-rapl:1"), 12_500_000)  // psys, 25 W
	sysfsAdd(t, raplZoneFile(root, "intel-rapl-mmio:0"), 99_000_000)
	rd, err := readNew(r)
	if err != nil {
		t.Fatal(err)
	}
	checkFloat(t, "Node", rd.Node, 25)
	if rd.NodeDerived {
		t.Error("NodeDerived set for a measured psys")
	}
	checkFloats(t, "CPU", rd.CPU, []float64{15})
	checkFloats(t, "Mem", rd.Mem, []float64{2})
	checkFloat(t, "Energy.Node", rd.Energy.Node, 12.5)
	checkFloats(t, "Energy.CPU", rd.Energy.CPU, []float64{7.5})
	checkFloats(t, "Energy.Mem", rd.Energy.Mem, []float64{1})
}

// AMD: packages with core sub-zones, no memory domain at all.
func TestRAPLAMD(t *testing.T) {
	root := sysfsFixture(t, "sysfs-rapl-amd.txt")
	clk := newSysfsClock()
	r, err := openRAPL(root, os.ReadFile, os.ReadDir, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Name(), "rapl (2 packages, dram: no, psys: no)"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	clk.advance(2 * time.Second)
	sysfsAdd(t, raplZoneFile(root, "intel-rapl:0"), 301_000_000) // 150.5 W
	sysfsAdd(t, raplZoneFile(root, "intel-rapl:0:0"), 250_000_000)
	sysfsAdd(t, raplZoneFile(root, "intel-rapl:1"), 280_000_000) // 140 W
	rd, err := readNew(r)
	if err != nil {
		t.Fatal(err)
	}
	checkFloat(t, "Node", rd.Node, nanW)
	checkFloats(t, "CPU", rd.CPU, []float64{150.5, 140})
	checkFloats(t, "Mem", rd.Mem, nil)
	checkFloats(t, "Energy.CPU", rd.Energy.CPU, []float64{301, 280})
	checkFloats(t, "Energy.Mem", rd.Energy.Mem, nil)
}

func TestRAPLNoZones(t *testing.T) {
	for _, tc := range []struct {
		what  string
		setup func(root string) error
	}{
		{"no class/powercap", func(string) error { return nil }},
		{"empty class/powercap", func(root string) error {
			return os.MkdirAll(filepath.Join(root, "class", "powercap"), 0o755)
		}},
		{"only a dtpm control type", func(root string) error {
			d := filepath.Join(root, "class", "powercap", "dtpm")
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(d, "enabled"), []byte("1\n"), 0o644)
		}},
		{"intel-rapl with only the control type", func(root string) error {
			return os.MkdirAll(filepath.Join(root, "class", "powercap", "intel-rapl"), 0o755)
		}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			root := t.TempDir()
			if err := tc.setup(root); err != nil {
				t.Fatal(err)
			}
			_, err := OpenRAPL(root)
			want := "rapl: no powercap RAPL zones under " + root + "/class/powercap"
			if err == nil || err.Error() != want {
				t.Errorf("OpenRAPL: error %v, want %q", err, want)
			}
		})
	}
}

// The exact message for a non-root reader, on a fake /sys whose energy_uj
// refuses to open with EACCES as the kernel does for mode 0400 (this runs as
// root too, where a real file cannot refuse).
func TestRAPLPermissionDeniedMessage(t *testing.T) {
	mfs := fstest.MapFS{
		"sys/class/powercap/intel-rapl:0/name":                {Data: []byte("package-0\n")},
		"sys/class/powercap/intel-rapl:0/max_energy_range_uj": {Data: []byte("262143328850\n")},
		"sys/class/powercap/intel-rapl:0/energy_uj":           {Data: []byte("1\n"), Mode: 0o400},
	}
	denied := 0
	readFile := func(p string) ([]byte, error) {
		if strings.HasSuffix(p, "/energy_uj") {
			denied++
			return nil, &fs.PathError{Op: "open", Path: p, Err: syscall.EACCES}
		}
		return fs.ReadFile(mfs, strings.TrimPrefix(p, "/"))
	}
	readDir := func(p string) ([]os.DirEntry, error) { return fs.ReadDir(mfs, strings.TrimPrefix(p, "/")) }
	_, err := openRAPL("/sys", readFile, readDir, time.Now)
	want := "rapl: /sys/class/powercap/intel-rapl:0/energy_uj: permission denied (RAPL energy is readable by root only since Linux 5.10; run the broker as root or grant read access)"
	if err == nil || err.Error() != want {
		t.Fatalf("openRAPL: error %v,\nwant %q", err, want)
	}
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("error %v is not fs.ErrPermission", err)
	}
	if denied != 1 {
		t.Errorf("energy_uj opened %d times, want 1", denied)
	}
}

const raplEACCESEnv = "POWER_MONITOR_TEST_RAPL_EACCES_ROOT"

// The same through the kernel's own permission check: energy_uj is a
// root-owned 0400 file, and a reader that is not root opens it. As root the
// test binary runs itself as nobody (uid 65534); otherwise the file is made
// unreadable to its owner.
func TestRAPLPermissionDeniedReal(t *testing.T) {
	dir, err := os.MkdirTemp("", "rapl-eacces-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sysfsFixtureAt(t, dir, "sysfs-rapl-server.txt")
	want := "rapl: " + raplZoneFile(dir, "intel-rapl:0") + ": permission denied (RAPL energy is readable by root only since Linux 5.10; run the broker as root or grant read access)"

	if os.Getuid() != 0 {
		if err := os.Chmod(raplZoneFile(dir, "intel-rapl:0"), 0); err != nil {
			t.Fatal(err)
		}
		_, err := OpenRAPL(dir)
		if err == nil || err.Error() != want {
			t.Fatalf("OpenRAPL: error %v,\nwant %q", err, want)
		}
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "source.test")
	if err := sysfsCopyFile(exe, bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestRAPLEACCESHelper$", "-test.v")
	cmd.Env = append(os.Environ(), raplEACCESEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil && !strings.Contains(string(out), "OPENRAPL:") {
		t.Skipf("cannot run the test binary as uid 65534 here: %v\n%s", err, out)
	}
	var got string
	for _, l := range strings.Split(string(out), "\n") {
		if s, ok := strings.CutPrefix(l, "OPENRAPL: "); ok {
			got = s
		}
	}
	if got != want {
		t.Fatalf("OpenRAPL as uid 65534: %q,\nwant %q\n(output:\n%s)", got, want, out)
	}
}

// TestRAPLEACCESHelper is the process that TestRAPLPermissionDeniedReal
// starts as another user.
func TestRAPLEACCESHelper(t *testing.T) {
	root := os.Getenv(raplEACCESEnv)
	if root == "" {
		t.Skip("runs only as the child of TestRAPLPermissionDeniedReal")
	}
	_, err := OpenRAPL(root)
	fmt.Printf("OPENRAPL: %v\n", err)
}

func sysfsCopyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func TestRAPLDelta(t *testing.T) {
	const max = 262143328850
	for _, tc := range []struct {
		prev, cur, max uint64
		dt             float64
		d              uint64
		wrapped, reset bool
	}{
		{100, 350, max, 0.1, 250, false, false},
		{5, 5, max, 0.1, 0, false, false},
		// counting up to max, one µJ to 0, then to cur
		{max - 10, 4, max, 0.1, 15, true, false},
		{max, 0, max, 0.1, 1, true, false},
		// a wrap would mean 262 kJ in 0.1 s: a reset to 0, then 4 µJ
		{1_000_000, 4, max, 0.1, 4, false, true},
		// prev beyond max: not a counter that wraps there
		{max + 7, 3, max, 0.1, 3, false, true},
		// no time passed: a decrease cannot be judged a wrap
		{max - 10, 4, max, 0, 4, false, true},
	} {
		d, w, r := raplDelta(tc.prev, tc.cur, tc.max, tc.dt)
		if d != tc.d || w != tc.wrapped || r != tc.reset {
			t.Errorf("raplDelta(%d, %d, %d, %g) = %d, %v, %v; want %d, %v, %v",
				tc.prev, tc.cur, tc.max, tc.dt, d, w, r, tc.d, tc.wrapped, tc.reset)
		}
	}
}

func TestPackageIndex(t *testing.T) {
	for name, want := range map[string]int{
		"package-0": 0, "package-12": 12, "package-1-die-1": 1,
		"package-": -1, "package-x": -1, "package-1-die-": -1, "dram": -1, "psys": -1,
	} {
		if got := packageIndex(name); got != want {
			t.Errorf("packageIndex(%q) = %d, want %d", name, got, want)
		}
	}
	for name, want := range map[string]bool{"psys": true, "psys-1": true, "psys-": false, "psysx": false, "package-0": false} {
		if got := isPsys(name); got != want {
			t.Errorf("isPsys(%q) = %v, want %v", name, got, want)
		}
	}
	if e, ok := parseRAPLEntry("intel-rapl:a:1"); !ok || e.ctype != "intel-rapl" || len(e.ids) != 2 || e.ids[0] != 10 {
		t.Errorf(`parseRAPLEntry("intel-rapl:a:1") = %+v, %v; zone ids are hex`, e, ok)
	}
}
