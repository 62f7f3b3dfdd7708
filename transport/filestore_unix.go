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
// never block opening a FIFO planted where a file should be.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

// tryLockFile takes f's exclusive flock(2) lock if it is free.
func tryLockFile(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		case !errors.Is(err, syscall.EINTR):
			return false, err
		}
	}
}

// unlockFile releases f's lock; closing f would too.
func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

func (s *fileStore) euid() int {
	if s.geteuid != nil {
		return s.geteuid()
	}
	return os.Geteuid()
}

// owner returns fi's owner, or -1 when unknown.
func owner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

func (s *fileStore) checkOwnerAndMode(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return errorf("%w: %s has mode %#o, so group or others can read or change it; run: chmod 600 %s",
			ErrUnsafeTokenFile, path, perm, path)
	}
	if uid, o := s.euid(), owner(fi); o >= 0 && o != uid {
		return errorf("%w: %s is owned by uid %d, not by uid %d running this program; remove it, log in again, and keep it at chmod 600",
			ErrUnsafeTokenFile, path, o, uid)
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

// ownDir is the advice for a token file in a directory that is not safe.
const ownDir = "keep the token file in a directory of your own, for example under os.UserConfigDir()"

// checkDir refuses, as ssh does, a token directory that group or others can
// write to, or that belongs to another user than the caller or root: its
// writers could replace the token file or hold its lock file. The advice
// differs: a directory shared on purpose (sticky, like /tmp, or another
// user's) must not be made private; the token file belongs elsewhere.
func (s *fileStore) checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		// Nothing stored there yet; Save creates it 0700 under the
		// nearest directory that exists, which must be safe.
		return s.checkAncestors(dir, true)
	}
	if err != nil {
		return errorf("transport: token directory: %w", err)
	}
	uid, o := s.euid(), owner(fi)
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		advice := ownDir
		if o == uid && fi.Mode()&fs.ModeSticky == 0 {
			advice = "run: chmod go-w " + dir + "; or " + advice
		}
		return errorf("%w: directory %s has mode %#o, so group or others can replace the token file in it; %s",
			ErrUnsafeTokenFile, dir, unixMode(fi.Mode()), advice)
	}
	if o >= 0 && o != uid && o != 0 {
		return errorf("%w: directory %s is owned by uid %d, not by uid %d running this program or by root; %s",
			ErrUnsafeTokenFile, dir, o, uid, ownDir)
	}
	return s.checkAncestors(dir, false)
}

// checkAncestors refuses a token directory below a directory whose other
// writers could rename or replace it: one that group or others can write to
// without the sticky bit, or that another user than the caller or root
// owns. A sticky directory such as /tmp is fine above the token directory
// (others cannot rename entries they do not own), though not as the token
// directory itself. Symbolic links are resolved first, so the directories
// checked are those the path really goes through. self says whether the
// nearest existing directory (dir itself when it exists) is checked too.
func (s *fileStore) checkAncestors(dir string, self bool) error {
	p, err := nearestDir(dir)
	if err != nil || p == "" {
		return err
	}
	if !self {
		p = filepath.Dir(p)
	}
	uid := s.euid()
	for {
		if err := checkAncestor(p, uid); err != nil {
			return err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return nil
		}
		p = parent
	}
}

// nearestDir returns the nearest directory of dir that exists, its symbolic
// links resolved; "" when none does.
func nearestDir(dir string) (string, error) {
	p, err := filepath.Abs(dir)
	if err != nil {
		return "", errorf("transport: token directory: %w", err)
	}
	for {
		if _, err := os.Lstat(p); err == nil {
			break
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "", nil
		}
		p = parent
	}
	if p, err = filepath.EvalSymlinks(p); err != nil {
		return "", errorf("transport: token directory: %w", err)
	}
	return p, nil
}

// checkAncestor checks one directory above the token directory.
func checkAncestor(p string, uid int) error {
	fi, err := os.Stat(p)
	if err != nil {
		return errorf("transport: token directory: %w", err)
	}
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return errorf("%w: directory %s, above the token file, has mode %#o, so group or others can replace the directories below it; %s",
			ErrUnsafeTokenFile, p, unixMode(fi.Mode()), ownDir)
	}
	if o := owner(fi); o >= 0 && o != uid && o != 0 {
		return errorf("%w: directory %s, above the token file, is owned by uid %d, not by uid %d running this program or by root; %s",
			ErrUnsafeTokenFile, p, o, uid, ownDir)
	}
	return nil
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

// fileVersion condenses what changes when the token file is replaced: every
// Save creates a new inode, and its times and size change too.
func fileVersion(fi fs.FileInfo) uint64 {
	var dev, ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		dev, ino = uint64(st.Dev), uint64(st.Ino)
	}
	return versionOf(dev, ino, uint64(fi.ModTime().UnixNano()), uint64(fi.Size()))
}
