// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// sysfsFS is how the sysfs sources (RAPL, hwmon) reach their files: the
// root of sysfs and the calls that read it, which tests replace. Every
// error it returns names the source, the file and the reason:
// "rapl: PATH: permission denied".
type sysfsFS struct {
	src      string // "rapl", "hwmon"
	root     string // e.g. "/sys"
	readFile func(string) ([]byte, error)
	readDir  func(string) ([]os.DirEntry, error)
	now      func() time.Time
}

// newSysfsFS reads under root ("" means "/sys") for source src.
func newSysfsFS(src, root string, readFile func(string) ([]byte, error), readDir func(string) ([]os.DirEntry, error), now func() time.Time) sysfsFS {
	if root == "" {
		root = "/sys"
	}
	return sysfsFS{src: src, root: root, readFile: readFile, readDir: readDir, now: now}
}

// sysfsError is a failed read of one sysfs file: "SRC: PATH: reason".
type sysfsError struct {
	msg string
	err error
}

func (e *sysfsError) Error() string { return e.msg }
func (e *sysfsError) Unwrap() error { return e.err }

// sysfsReason is why a file operation failed, without the path that
// os.PathError repeats.
func sysfsReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// pathError is err, met at path: "SRC: PATH: reason", unwrapping to err.
func (s sysfsFS) pathError(path string, err error) error {
	return &sysfsError{msg: fmt.Sprintf("%s: %s: %s", s.src, path, sysfsReason(err)), err: err}
}

// readString reads a one-value file, without its surrounding space.
func (s sysfsFS) readString(path string) (string, error) {
	b, err := s.readFile(path)
	if err != nil {
		return "", s.pathError(path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// readUint reads a file holding an unsigned decimal integer.
func (s sysfsFS) readUint(path string) (uint64, error) {
	return sysfsNumber(s, path, "an unsigned integer", func(v string) (uint64, error) { return strconv.ParseUint(v, 10, 64) })
}

// readInt reads a file holding a signed decimal integer.
func (s sysfsFS) readInt(path string) (int64, error) {
	return sysfsNumber(s, path, "an integer", func(v string) (int64, error) { return strconv.ParseInt(v, 10, 64) })
}

// sysfsNumber reads a file holding one number that parse understands;
// what names the kind of number in the error.
func sysfsNumber[T any](s sysfsFS, path, what string, parse func(string) (T, error)) (T, error) {
	var zero T
	str, err := s.readString(path)
	if err != nil {
		return zero, err
	}
	v, err := parse(str)
	if err != nil {
		return zero, &sysfsError{msg: fmt.Sprintf("%s: %s: %q is not %s", s.src, path, str, what), err: err}
	}
	return v, nil
}

// sysfsMidTime is the middle of a read that began at t0 and ended at t1:
// the time a reading stands for.
func sysfsMidTime(t0, t1 time.Time) time.Time { return t0.Add(t1.Sub(t0) / 2) }
