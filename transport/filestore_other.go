//go:build !unix && !windows

package transport

import (
	"errors"
	"io/fs"
	"os"
)

// openFlags: there is no O_NOFOLLOW; Load and Save check with Lstat.
const openFlags = 0

// tryLockFile fails: this platform has no file locks the store can use.
func tryLockFile(*os.File) (bool, error) {
	return false, errors.New("file locks are not supported on this platform")
}

func unlockFile(*os.File) {}

func (s *fileStore) checkOwnerAndMode(string, fs.FileInfo) error { return nil }

func syncDir(string) error { return nil }

func (s *fileStore) checkDir(string) error { return nil }

func fileVersion(fi fs.FileInfo) uint64 {
	return versionOf(uint64(fi.ModTime().UnixNano()), uint64(fi.Size()))
}
