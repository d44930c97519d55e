// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"bufio"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The helpers below lay out and move the sysfs trees that the RAPL and
// hwmon tests read.

// sysfsFixture lays out the tree described by testdata/NAME in a new
// temporary directory and returns it. A description has one entry a line:
//
//	dir  PATH                  a directory
//	file MODE PATH [CONTENT]   a file holding CONTENT and a newline
//	link PATH TARGET           a symlink (targets are relative, as in sysfs)
func sysfsFixture(t *testing.T, name string) string {
	t.Helper()
	root := t.TempDir()
	sysfsFixtureAt(t, root, name)
	return root
}

func sysfsFixtureAt(t *testing.T, root, name string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kind, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		bad := func(err error) {
			t.Fatalf("%s:%d: %q: %v", name, n, line, err)
		}
		switch kind {
		case "dir":
			if err := os.MkdirAll(filepath.Join(root, rest), 0o755); err != nil {
				bad(err)
			}
		case "file":
			mode, rest, _ := strings.Cut(rest, " ")
			path, content, _ := strings.Cut(strings.TrimSpace(rest), " ")
			m, err := strconv.ParseUint(mode, 8, 32)
			if err != nil {
				bad(err)
			}
			p := filepath.Join(root, path)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				bad(err)
			}
			if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
				bad(err)
			}
			if err := os.Chmod(p, fs.FileMode(m)); err != nil {
				bad(err)
			}
		case "link":
			path, target, ok := strings.Cut(rest, " ")
			if !ok {
				bad(errors.New("link needs a target"))
			}
			p := filepath.Join(root, path)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				bad(err)
			}
			if err := os.Symlink(target, p); err != nil {
				bad(err)
			}
		default:
			bad(errors.New("unknown entry"))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// sysfsSet writes a counter as the kernel would show it, keeping the file's
// mode (energy_uj is 0400, not writable even by its owner).
func sysfsSet(t *testing.T, path string, v uint64) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strconv.FormatUint(v, 10)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, st.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

func sysfsGet(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sysfsAdd advances a counter by d.
func sysfsAdd(t *testing.T, path string, d uint64) {
	t.Helper()
	sysfsSet(t, path, sysfsGet(t, path)+d)
}

// sysfsClock is a clock the test moves.
type sysfsClock struct{ t time.Time }

func (c *sysfsClock) now() time.Time          { return c.t }
func (c *sysfsClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newSysfsClock() *sysfsClock { return &sysfsClock{t: time.Unix(1700000000, 0)} }

func sameF(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func checkFloats(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
		return
	}
	for i := range got {
		if !sameF(got[i], want[i]) {
			t.Errorf("%s = %v, want %v", what, got, want)
			return
		}
	}
}

func checkFloat(t *testing.T, what string, got, want float64) {
	t.Helper()
	if !sameF(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// Every error of the sysfs readers names the source, the file and the
// reason, and unwraps to the cause.
func TestSysfsReadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := newSysfsFS("hwmon", "", os.ReadFile, os.ReadDir, time.Now)
	if s.root != "/sys" {
		t.Errorf("root %q, want /sys", s.root)
	}
	if v, err := s.readString(write("name", "  amdgpu \n")); err != nil || v != "amdgpu" {
		t.Errorf("readString: %q %v", v, err)
	}
	if v, err := s.readInt(write("power", "-5\n")); err != nil || v != -5 {
		t.Errorf("readInt: %d %v", v, err)
	}
	missing := filepath.Join(dir, "none")
	_, err := s.readUint(missing)
	if want := "hwmon: " + missing + ": no such file or directory"; err == nil || err.Error() != want || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want %q unwrapping to ErrNotExist", err, want)
	}
	neg := write("energy", "-5\n")
	if _, err := s.readUint(neg); err == nil || err.Error() != "hwmon: "+neg+`: "-5" is not an unsigned integer` {
		t.Errorf("negative counter: %v", err)
	}
	word := write("power1_input", "n/a\n")
	if _, err := s.readInt(word); err == nil || err.Error() != "hwmon: "+word+`: "n/a" is not an integer` {
		t.Errorf("not a number: %v", err)
	}
	busy := newSysfsFS("rapl", "/x", func(string) ([]byte, error) {
		return nil, &fs.PathError{Op: "read", Path: "/x/f", Err: syscall.EBUSY}
	}, os.ReadDir, time.Now)
	if _, err := busy.readString("/x/f"); err == nil || err.Error() != "rapl: /x/f: device or resource busy" || !errors.Is(err, syscall.EBUSY) {
		t.Errorf("busy: %v", err)
	}
}
