package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// maxFileBytes bounds what Load reads of a token file.
const maxFileBytes = 1 << 20

var (
	_ Store  = (*FileStore)(nil)
	_ Locker = (*FileStore)(nil)
)

// FileStore is a Store in a file, for command-line tools: every invocation
// is a new process that finds the session where the last one left it, and
// parallel invocations share it safely.
//
// The file is created with mode 0600 (and its directory with 0700 when
// missing) and replaced atomically: written to a temporary file in the same
// directory, synced, renamed over the old one, and the directory synced, so
// a crash at any point leaves either the old or the new content. Load and
// Save refuse (ErrUnsafeTokenFile) a file that is a symbolic link or not a
// regular file and, on Unix, one that group or others can access or that
// another user owns: the tokens are as good as a password.
//
// Lock takes an OS lock (flock(2), LockFileEx on Windows) on a separate file
// beside it, path + ".lock", which is never renamed or removed: a lock on
// the token file itself would be lost by every atomic replacement. The lock
// is advisory, and Load, Save and Clear do not take it; the Transport holds
// it across re-read → redeem → persist.
//
// A FileStore is safe for concurrent use by goroutines and processes.
type FileStore struct {
	path, lockPath string
	sem            chan struct{} // serializes Lock within the process
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
		return nil, fmt.Errorf("transport: token file path: %w", err)
	}
	if filepath.Base(abs) == string(filepath.Separator) {
		return nil, fmt.Errorf("transport: token file path %q names no file", path)
	}
	return &FileStore{path: abs, lockPath: abs + ".lock", sem: make(chan struct{}, 1)}, nil
}

// Path returns the absolute path of the token file.
func (s *FileStore) Path() string { return s.path }

// Load reads the token file. A missing file is ErrNoToken; an unsafe one is
// ErrUnsafeTokenFile; a file that is not a stored token is an error naming
// the file.
func (s *FileStore) Load(ctx context.Context) (*Token, error) {
	if err := ctx.Err(); err != nil {
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
			return nil, fmt.Errorf("%w in %s", ErrNoToken, s.path)
		}
		return nil, fmt.Errorf("transport: token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("transport: token file: %w", err)
	}
	if err := s.checkInfo(fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("transport: reading token file %s: %w", s.path, err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("transport: token file %s is larger than %d bytes", s.path, maxFileBytes)
	}
	var tok Token
	if err := json.Unmarshal(data, &tok); err != nil {
		return nil, fmt.Errorf("transport: token file %s is not a stored token (log in again to replace it): %w", s.path, err)
	}
	if tok.AccessToken == "" && tok.RefreshToken == "" {
		return nil, fmt.Errorf("transport: token file %s holds no token (log in again to replace it)", s.path)
	}
	return &tok, nil
}

// Save replaces the token file atomically with tok. It refuses to replace an
// unsafe file (see FileStore). Once the new file is being written, ctx no
// longer interrupts it: a rotated refresh token must not be lost to a
// cancellation.
func (s *FileStore) Save(ctx context.Context, tok *Token) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := json.Marshal(tok)
	if err != nil {
		return fmt.Errorf("transport: encoding token: %w", err)
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("transport: token directory: %w", err)
	}
	if err := s.checkPath(); err != nil {
		return err
	}
	return writeAtomic(s.path, data)
}

// Clear removes the token file. The lock file stays: removing it would let
// two processes lock two different files of the same name.
func (s *FileStore) Clear(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Remove(s.path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("transport: removing token file: %w", err)
	}
	return syncDir(filepath.Dir(s.path))
}

// Lock takes the exclusive OS lock on path + ".lock", polling until it is
// free or ctx is done, and returns its release.
func (s *FileStore) Lock(ctx context.Context) (func(), error) {
	release, err := acquire(ctx, s.sem)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(s.lockPath), 0o700); err != nil {
		release()
		return nil, fmt.Errorf("transport: token directory: %w", err)
	}
	fl := flock.New(s.lockPath, flock.SetFlag(lockFlags), flock.SetPermissions(0o600))
	// flock(2) cannot wait for a context, so poll: a refresh holds the
	// lock for one round trip, so waiters are few and short-lived.
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		ok, err := fl.TryLock()
		if err != nil {
			release()
			return nil, fmt.Errorf("transport: locking %s: %w", s.lockPath, err)
		}
		if ok {
			return func() { _ = fl.Unlock(); release() }, nil
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

// checkPath refuses an existing token file that is a symbolic link, not a
// regular file, or unsafe by checkInfo. A missing file is fine.
func (s *FileStore) checkPath() error {
	fi, err := os.Lstat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("transport: token file: %w", err)
	}
	return s.checkInfo(fi)
}

func (s *FileStore) checkInfo(fi fs.FileInfo) error {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%w: %s is a symbolic link; refusing to follow it", ErrUnsafeTokenFile, s.path)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrUnsafeTokenFile, s.path)
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
		return fmt.Errorf("transport: writing token file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("transport: writing token file %s: %w", path, err)
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
