//go:build !unix

package transport

import (
	"io/fs"
	"os"
)

// openFlags: there is no O_NOFOLLOW; Load and Save check with Lstat.
const openFlags = 0

const lockFlags = os.O_CREATE | os.O_RDONLY

// checkOwnerAndMode has nothing to check where Unix permission bits do not
// exist; the file inherits the ACL of the user's profile directory.
func checkOwnerAndMode(string, fs.FileInfo) error { return nil }

// syncDir is not possible on Windows; a rename there is durable on return.
func syncDir(string) error { return nil }

// checkDir has nothing to check where Unix permission bits do not exist.
func checkDir(string) error { return nil }

// fileStamp condenses what changes when the token file is replaced.
func fileStamp(fi fs.FileInfo) uint64 {
	return stampOf(uint64(fi.ModTime().UnixNano()), uint64(fi.Size()))
}
