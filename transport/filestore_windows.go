//go:build windows

package transport

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// openFlags: there is no O_NOFOLLOW; Load and Save check with Lstat.
const openFlags = 0

// tryLockFile takes f's exclusive LockFileEx lock if it is free.
func tryLockFile(f *os.File) (bool, error) {
	ol := new(windows.Overlapped)
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, windows.ERROR_LOCK_VIOLATION), errors.Is(err, windows.ERROR_IO_PENDING):
		return false, nil
	}
	return false, err
}

// unlockFile releases f's lock; closing f would too.
func unlockFile(f *os.File) {
	_ = windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, new(windows.Overlapped))
}

// checkOwnerAndMode has nothing to check where Unix permission bits do not
// exist; the file inherits the ACL of the user's profile directory.
func (s *fileStore) checkOwnerAndMode(string, fs.FileInfo) error { return nil }

// syncDir is not possible on Windows; a rename there is durable on return.
func syncDir(string) error { return nil }

// checkDir has nothing to check where Unix permission bits do not exist.
func (s *fileStore) checkDir(string) error { return nil }

// fileVersion condenses what changes when the token file is replaced.
func fileVersion(fi fs.FileInfo) uint64 {
	return versionOf(uint64(fi.ModTime().UnixNano()), uint64(fi.Size()))
}
