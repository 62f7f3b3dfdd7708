//go:build unix

package transport

import (
	"errors"
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

// checkDir refuses, as ssh does, a token directory that group or others can
// write to, or that belongs to another user than the caller or root: its
// writers could replace the token file or hold its lock file.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // nothing stored there yet; Save creates it 0700
	}
	if err != nil {
		return fmt.Errorf("transport: token directory: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("%w: directory %s has mode %#o, so group or others can replace the token file in it; run: chmod go-w %s",
			ErrUnsafeTokenFile, dir, perm, dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := geteuid(); int64(st.Uid) != int64(uid) && st.Uid != 0 {
			return fmt.Errorf("%w: directory %s is owned by uid %d, not by uid %d running this program or by root; keep the token file in a directory of your own",
				ErrUnsafeTokenFile, dir, st.Uid, uid)
		}
	}
	return nil
}

// fileStamp condenses what changes when the token file is replaced: every
// Save creates a new inode, and its times and size change too.
func fileStamp(fi fs.FileInfo) uint64 {
	var dev, ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		dev, ino = uint64(st.Dev), uint64(st.Ino)
	}
	return stampOf(dev, ino, uint64(fi.ModTime().UnixNano()), uint64(fi.Size()))
}
