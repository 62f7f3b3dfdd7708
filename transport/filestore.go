package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"
)

// maxFileBytes bounds what Load reads of a token file.
const maxFileBytes = 1 << 20

// statInterval is how often a Transport's requests check whether the token
// file changed (see FileStore).
const statInterval = time.Second

var (
	_ Store     = (*FileStore)(nil)
	_ Locker    = (*FileStore)(nil)
	_ versioned = (*FileStore)(nil)
)

// FileStore is a Store in a file, for command-line tools: every invocation
// is a new process that finds the session where the last one left it, and
// parallel invocations share it safely.
//
// The file is created with mode 0600 (and its directory with 0700 when
// missing) and replaced atomically: written to a temporary file in the same
// directory, synced, renamed over the old one, and the directory synced, so
// a crash at any point leaves either the old or the new content. Load and
// Save refuse (ErrUnsafeTokenFile) a file that is a symbolic link or not
// a regular file and, on Unix, one that group or others can access or that
// another user owns: the tokens are as good as a password. Like ssh, they
// also refuse, on Unix, a token file whose directory group or others can
// write to, or that belongs to another user than the caller or root: whoever
// can write to the directory can replace the file, or hold its lock file
// forever. The directories above it are checked the same way (symbolic
// links resolved), except that a sticky one such as /tmp is fine there:
// whoever can write to one of them can rename the token directory and put
// their own in its place. They refuse before creating anything, the lock file
// included; the error suggests chmod go-w only for a directory of the
// caller's own, and otherwise (for /tmp, say) a directory of one's own,
// such as one under os.UserConfigDir. Clear works regardless, without the
// lock in such a directory, so that a logout always succeeds.
//
// Lock takes an OS lock (flock(2), LockFileEx on Windows) on a separate file
// beside it, path + ".lock", which is never renamed or removed: a lock on
// the token file itself would be lost by every atomic replacement. The
// Transport holds it across re-read → redeem → persist. Save and Clear take
// it too, unless the caller already holds it, so that a login or a logout
// in one process waits for a refresh in flight in another (at most its
// timeout) instead of being undone by it. Load does not need it: the file
// is only ever replaced whole.
//
// A Transport using a FileStore checks, at most once a second, whether the
// file changed (by its inode, size and modification time), and reloads it:
// a logout or a login in another process takes effect in a long-running one
// within a second, without waiting for a refresh.
//
// A FileStore is safe for concurrent use by goroutines and processes.
type FileStore struct {
	path, lockPath string
	lock           storeLock // serializes Lock within the process

	// stamp identifies the file's last seen state (0: no file); nextStat
	// is when, in Unix nanoseconds, version looks at the file again.
	stamp    atomic.Uint64
	nextStat atomic.Int64
}

// NewFileStore returns a FileStore for the file at path, made absolute so
// that a later change of working directory does not move it. It does not
// touch the file system.
func NewFileStore(path string) (*FileStore, error) {
	if path == "" {
		return nil, errors.New("transport: empty token file path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, errorf("transport: token file path: %w", err)
	}
	if filepath.Base(abs) == string(filepath.Separator) {
		return nil, errorf("transport: token file path %q names no file", path)
	}
	return &FileStore{path: abs, lockPath: abs + ".lock"}, nil
}

// Path returns the absolute path of the token file.
func (s *FileStore) Path() string { return s.path }

// Load reads the token file. A missing file, or one that holds no token
// (empty, "{}" or "null"), is ErrNoToken; an unsafe one is
// ErrUnsafeTokenFile; a file that is not a stored token is an error naming
// the file.
func (s *FileStore) Load(ctx context.Context) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkDir(filepath.Dir(s.path)); err != nil {
		return nil, err
	}
	// Lstat explains a refusal; on Unix, O_NOFOLLOW then closes the window
	// between the check and the open.
	if err := s.checkPath(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errorf("%w in %s", ErrNoToken, s.path)
		}
		return nil, errorf("transport: token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, errorf("transport: token file: %w", err)
	}
	if err := s.checkInfo(fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, errorf("transport: reading token file %s: %w", s.path, err)
	}
	if len(data) > maxFileBytes {
		return nil, errorf("transport: token file %s is larger than %d bytes", s.path, maxFileBytes)
	}
	var tok Token
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &tok); err != nil {
			return nil, errorf("transport: token file %s is not a stored token (log in again to replace it): %w", s.path, err)
		}
	}
	if tok.AccessToken == "" && tok.RefreshToken == "" {
		return nil, errorf("%w in %s", ErrNoToken, s.path)
	}
	return &tok, nil
}

// Save replaces the token file atomically with tok. It refuses to replace an
// unsafe file (see FileStore). Unless the caller holds the store's lock, it
// takes it first, and returns ctx's error if ctx ends while it waits. Once
// the new file is being written, ctx no longer interrupts it: a rotated
// refresh token must not be lost to a cancellation.
func (s *FileStore) Save(ctx context.Context, tok *Token) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if tok == nil { // would write "null": use Clear to empty the store
		return errorf("transport: saving a nil token (Clear empties the store)")
	}
	data, err := json.Marshal(tok)
	if err != nil {
		return errorf("transport: encoding token: %w", err)
	}
	if len(data) > maxFileBytes { // Load would refuse the file, and the session with it
		return errorf("transport: token of %d bytes encoded, more than a token file holds (%d)", len(data), maxFileBytes)
	}
	if !s.lock.heldBy(ctx) {
		unlock, err := s.Lock(ctx)
		if err != nil {
			return err
		}
		defer unlock()
	}
	dir := filepath.Dir(s.path)
	if err := checkDir(dir); err != nil { // before anything is created
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return errorf("transport: token directory: %w", err)
	}
	if err := checkDir(dir); err != nil {
		return err
	}
	if err := s.checkPath(); err != nil {
		return err
	}
	err = writeAtomic(s.path, data)
	s.restat()
	return err
}

// Clear removes the token file. Unless the caller holds the store's lock, it
// takes it first, and returns ctx's error if ctx ends while it waits. The
// lock file stays: removing it would let two processes lock two different
// files of the same name.
func (s *FileStore) Clear(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// In a directory Lock refuses, remove the file without the lock, so
	// that a logout succeeds and creates nothing there: no Load or Save
	// succeeds in it for a refresh to race with.
	if !s.lock.heldBy(ctx) && checkDir(filepath.Dir(s.path)) == nil {
		unlock, err := s.Lock(ctx)
		if err != nil {
			return err
		}
		defer unlock()
	}
	defer s.restat()
	if err := os.Remove(s.path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return errorf("transport: removing token file: %w", err)
	}
	return syncDir(filepath.Dir(s.path))
}

// Lock takes the exclusive OS lock on path + ".lock", polling until it is
// free or ctx is done, and returns its release. It creates the directory
// (mode 0700) when it is missing. In a directory that Load and Save refuse
// (see FileStore) it fails with ErrUnsafeTokenFile before creating the lock
// file.
func (s *FileStore) Lock(ctx context.Context) (func(), error) {
	release, err := s.lock.acquire(ctx)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(s.lockPath)
	if err := checkDir(dir); err != nil { // before anything is created
		release()
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		release()
		return nil, errorf("transport: token directory: %w", err)
	}
	// Before the lock file is created: nothing goes into a directory the
	// store refuses.
	if err := checkDir(dir); err != nil {
		release()
		return nil, err
	}
	fl := flock.New(s.lockPath, flock.SetFlag(lockFlags), flock.SetPermissions(0o600))
	// flock(2) cannot wait for a context, so poll: a refresh holds the
	// lock for one round trip, so waiters are few and short-lived.
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		ok, err := fl.TryLock()
		if err != nil {
			release()
			return nil, errorf("transport: locking %s: %w", s.lockPath, err)
		}
		if ok {
			return func() { _ = fl.Unlock(); release() }, nil
		}
		if delay == time.Millisecond {
			lockWaiting()
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			release()
			return nil, ctx.Err()
		}
	}
}

// version identifies the file's state, looking at the file at most once per
// statInterval of now (the Transport's clock) and after each Save and Clear
// through this FileStore.
func (s *FileStore) version(now time.Time) uint64 {
	n, next := now.UnixNano(), s.nextStat.Load()
	// A clock that went back more than an interval also looks again.
	if (n >= next || n < next-int64(statInterval)) && s.nextStat.CompareAndSwap(next, n+int64(statInterval)) {
		s.restat()
	}
	return s.stamp.Load()
}

// restat records the file's current state.
func (s *FileStore) restat() {
	var stamp uint64
	fi, err := os.Lstat(s.path)
	switch {
	case err == nil:
		stamp = fileStamp(fi)
	case errors.Is(err, fs.ErrNotExist):
		stamp = 0
	default:
		stamp = 1 // unreadable: a Load will say why
	}
	s.stamp.Store(stamp)
}

// checkPath refuses an existing token file that is a symbolic link, not a
// regular file, or unsafe by checkInfo. A missing file is fine.
func (s *FileStore) checkPath() error {
	fi, err := os.Lstat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return errorf("transport: token file: %w", err)
	}
	return s.checkInfo(fi)
}

func (s *FileStore) checkInfo(fi fs.FileInfo) error {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return errorf("%w: %s is a symbolic link; refusing to follow it", ErrUnsafeTokenFile, s.path)
	}
	if !fi.Mode().IsRegular() {
		return errorf("%w: %s is not a regular file", ErrUnsafeTokenFile, s.path)
	}
	return checkOwnerAndMode(s.path, fi)
}

// saveStep names the points of writeAtomic at which a test can interrupt it.
type saveStep int

const (
	stepCreated saveStep = iota // temporary file created, empty
	stepWritten                 // content written, not synced
	stepSynced                  // content synced, not renamed
	stepRenamed                 // renamed over the old file, directory not synced
)

// saveHook, when set by a test, runs at each step of writeAtomic; an error
// aborts the write there.
var saveHook func(saveStep) error

func writeAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*") // mode 0600
	if err != nil {
		return errorf("transport: writing token file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = errorf("transport: writing token file %s: %w", path, err)
		}
	}()
	step := func(s saveStep) error {
		if saveHook != nil {
			return saveHook(s)
		}
		return nil
	}
	if err := step(stepCreated); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := step(stepWritten); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := step(stepSynced); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if err := step(stepRenamed); err != nil {
		return err
	}
	return syncDir(dir)
}

// stampOf mixes values into a stamp that is neither 0 (no file) nor 1
// (unreadable).
func stampOf(vs ...uint64) uint64 {
	h := uint64(14695981039346656037)
	for _, v := range vs {
		h ^= v
		h *= 1099511628211
		h ^= h >> 29
	}
	return max(h, 2)
}
