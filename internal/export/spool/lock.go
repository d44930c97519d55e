// SPDX-License-Identifier: LGPL-3.0-only

package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const lockName = "lock"

// lockDir takes an exclusive flock(2) on dir/lock, so that two processes
// (two agents given the same trace file, two modules given the same
// --spool-dir) cannot interleave their segments and cursors. The lock goes
// with the process: a crash leaves nothing to clean up. The file holds the
// holder's pid, for the message. The lock is advisory and works where the
// filesystem supports flock (local filesystems; NFS emulates it with POSIX
// locks, which do not separate two opens in one process); where it does
// not, lockDir returns no file and no error and the spool goes unlocked.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fileErr(path, "open lock", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if noLocks(err) {
			// a filesystem without flock (Lustre mounted without the flock
			// option): the spool works unlocked, as before the lock existed
			return nil, nil
		}
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
					holder = fmt.Sprintf("process %d", pid)
				}
			}
			return nil, fmt.Errorf("spool: %s is in use by %s: give each its own --spool-dir", dir, holder)
		}
		return nil, fileErr(path, "lock", err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

func noLocks(err error) bool {
	return errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EOPNOTSUPP) ||
		errors.Is(err, syscall.ENOLCK) || errors.Is(err, syscall.EINVAL)
}
