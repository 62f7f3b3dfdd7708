//go:build unix

package transport

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// openFlags: never follow a symbolic link in the last path component, and
// never block opening a FIFO planted where the token file should be.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

// lockFlags opens the lock file for flock(2), without following a link.
const lockFlags = os.O_CREATE | os.O_RDONLY | syscall.O_NOFOLLOW

// geteuid is a seam for the ownership test.
var geteuid = os.Geteuid

func checkOwnerAndMode(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %#o, so group or others can read or change it; run: chmod 600 %s",
			ErrUnsafeTokenFile, path, perm, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := geteuid(); int64(st.Uid) != int64(uid) {
			return fmt.Errorf("%w: %s is owned by uid %d, not by uid %d running this program; remove it, log in again, and keep it at chmod 600",
				ErrUnsafeTokenFile, path, st.Uid, uid)
		}
	}
	return nil
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("transport: syncing token directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("transport: syncing token directory: %w", err)
	}
	return nil
}
