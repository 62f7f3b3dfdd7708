//go:build unix

package transport

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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
		return errorf("%w: %s has mode %#o, so group or others can read or change it; run: chmod 600 %s",
			ErrUnsafeTokenFile, path, perm, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := geteuid(); int64(st.Uid) != int64(uid) {
			return errorf("%w: %s is owned by uid %d, not by uid %d running this program; remove it, log in again, and keep it at chmod 600",
				ErrUnsafeTokenFile, path, st.Uid, uid)
		}
	}
	return nil
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return errorf("transport: syncing token directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return errorf("transport: syncing token directory: %w", err)
	}
	return nil
}

// checkDir refuses, as ssh does, a token directory that group or others can
// write to, or that belongs to another user than the caller or root: its
// writers could replace the token file or hold its lock file. The advice
// differs: a directory shared on purpose (sticky, like /tmp, or another
// user's) must not be made private; the token file belongs elsewhere.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		// Nothing stored there yet; Save creates it 0700 under the
		// nearest directory that exists, which must be safe.
		return checkAncestors(dir, true)
	}
	if err != nil {
		return errorf("transport: token directory: %w", err)
	}
	uid := geteuid()
	owner := -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner = int(st.Uid)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		advice := "keep the token file in a directory of your own, for example under os.UserConfigDir()"
		if owner == uid && fi.Mode()&fs.ModeSticky == 0 {
			advice = "run: chmod go-w " + dir + "; or " + advice
		}
		return errorf("%w: directory %s has mode %#o, so group or others can replace the token file in it; %s",
			ErrUnsafeTokenFile, dir, unixMode(fi.Mode()), advice)
	}
	if owner >= 0 && owner != uid && owner != 0 {
		return errorf("%w: directory %s is owned by uid %d, not by uid %d running this program or by root; keep the token file in a directory of your own, for example under os.UserConfigDir()",
			ErrUnsafeTokenFile, dir, owner, uid)
	}
	return checkAncestors(dir, false)
}

// checkAncestors refuses a token directory below a directory whose other
// writers could rename or replace it: one that group or others can write to
// without the sticky bit, or that another user than the caller or root
// owns. A sticky directory such as /tmp is fine above the token directory
// (others cannot rename entries they do not own), though not as the token
// directory itself. Symbolic links are resolved first, so the directories
// checked are those the path really goes through. self says whether the
// nearest existing directory (dir itself when it exists) is checked too.
func checkAncestors(dir string, self bool) error {
	p, err := filepath.Abs(dir)
	if err != nil {
		return errorf("transport: token directory: %w", err)
	}
	for { // the nearest directory that exists
		if _, err := os.Lstat(p); err == nil {
			break
		}
		parent := filepath.Dir(p)
		if parent == p {
			return nil
		}
		p = parent
	}
	if p, err = filepath.EvalSymlinks(p); err != nil {
		return errorf("transport: token directory: %w", err)
	}
	if !self {
		p = filepath.Dir(p)
	}
	uid := geteuid()
	for {
		fi, err := os.Stat(p)
		if err != nil {
			return errorf("transport: token directory: %w", err)
		}
		owner := -1
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			owner = int(st.Uid)
		}
		if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
			return errorf("%w: directory %s, above the token file, has mode %#o, so group or others can replace the directories below it; keep the token file in a directory of your own, for example under os.UserConfigDir()",
				ErrUnsafeTokenFile, p, unixMode(fi.Mode()))
		}
		if owner >= 0 && owner != uid && owner != 0 {
			return errorf("%w: directory %s, above the token file, is owned by uid %d, not by uid %d running this program or by root; keep the token file in a directory of your own, for example under os.UserConfigDir()",
				ErrUnsafeTokenFile, p, owner, uid)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return nil
		}
		p = parent
	}
}

// unixMode is m's permission bits as chmod(1) spells them, with the setuid,
// setgid and sticky bits that fs.FileMode.Perm leaves out.
func unixMode(m fs.FileMode) uint32 {
	bits := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		bits |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		bits |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		bits |= 0o1000
	}
	return bits
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
