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
)

// maxFileBytes bounds what Load reads of a token file.
const maxFileBytes = 1 << 20

// statInterval is how often Version looks at the token file.
const statInterval = time.Second

// NewFileStore returns a Store in the file at path (made absolute, so that
// a later change of working directory does not move it), for command-line
// tools: each invocation finds the session where the last one left it, and
// parallel invocations share it safely. It does not touch the file system.
//
// The file is created 0600 (its directory 0700 when missing) and replaced
// atomically (temporary file, fsync, rename, directory fsync). Like ssh, the
// store refuses (ErrUnsafeTokenFile) a symbolic link or non-regular file, on
// Unix one that group or others can access or another user owns, and one
// in a directory that group or others can write to or another user than
// the caller or root owns, or below such a directory unless it is sticky
// (such as /tmp); it refuses before creating anything. Clear works anyway.
//
// It is a Locker: the lock is an OS lock (flock(2), LockFileEx on Windows)
// on path + ".lock", which is never renamed or removed, and its Save and
// Clear take it too. It is a Versioner, looking at the file's inode, size
// and modification time at most once a second.
func NewFileStore(path string) (Store, error) {
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
	return &fileStore{path: abs, lockPath: abs + ".lock"}, nil
}

var (
	_ Locker    = (*fileStore)(nil)
	_ Versioner = (*fileStore)(nil)
	_ Versioner = heldFile{}
)

// fileStore is the store of NewFileStore.
type fileStore struct {
	path, lockPath string
	lock           storeLock // serializes Lock within the process

	// version identifies the file's last seen state (0: no file);
	// nextStat is when, in Unix nanoseconds, Version looks again.
	version  atomic.Uint64
	nextStat atomic.Int64

	// Test seams, set from export_test.go; nil means the real thing.
	now      func() time.Time
	geteuid  func() int
	saveHook func(saveStep) error
}

// Load reads the token file. A missing file, or one that holds no token
// (empty, "{}" or "null"), is ErrNoToken; an unsafe one is
// ErrUnsafeTokenFile; a file that is not a stored token is an error naming
// the file.
func (s *fileStore) Load(ctx context.Context) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.checkDir(filepath.Dir(s.path)); err != nil {
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
	if err := s.checkFile(f, s.path); err != nil {
		return nil, err
	}
	tok, jkt, err := s.decode(f)
	if err != nil || jkt == "" {
		return tok, err
	}
	if tok.DPoPKey, err = s.loadKey(jkt); err != nil {
		return nil, err
	}
	return tok, nil
}

// decode reads a token file: the token, and the thumbprint of its DPoP key
// ("" for none).
func (s *fileStore) decode(f io.Reader) (*Token, string, error) {
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, "", errorf("transport: reading token file %s: %w", s.path, err)
	}
	if len(data) > maxFileBytes {
		return nil, "", errorf("transport: token file %s is larger than %d bytes", s.path, maxFileBytes)
	}
	var tok Token
	var rec struct {
		JKT string `json:"dpop_jkt"`
	}
	if len(bytes.TrimSpace(data)) > 0 {
		err := json.Unmarshal(data, &tok)
		if err == nil {
			err = json.Unmarshal(data, &rec)
		}
		if err != nil {
			return nil, "", errorf("transport: token file %s is not a stored token (log in again to replace it): %w", s.path, err)
		}
	}
	if tok.AccessToken == "" && tok.RefreshToken == "" {
		return nil, "", errorf("%w in %s", ErrNoToken, s.path)
	}
	return &tok, rec.JKT, nil
}

// Save replaces the token file atomically with tok once it holds the
// store's lock. Once the new file is being written, ctx no longer
// interrupts it: a rotated refresh token must not be lost to a
// cancellation.
func (s *fileStore) Save(ctx context.Context, tok *Token) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rec, err := encodeToken(tok)
	if err != nil {
		return err
	}
	_, unlock, err := s.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return s.write(rec)
}

// record is a token as the files of a file store hold it: the token file's
// content, and the session's DPoP key with its thumbprint, if it has one.
type record struct {
	data     []byte
	jkt      string
	keyBytes []byte // PEM
}

// encodeToken is tok as a file store holds it. The token file records the
// thumbprint of its DPoP key, which names the key file.
func encodeToken(tok *Token) (record, error) {
	if tok == nil { // would write "null": use Clear to empty the store
		return record{}, errorf("transport: saving a nil token (Clear empties the store)")
	}
	var rec record
	if tok.DPoPKey != nil {
		var err error
		if rec.jkt, rec.keyBytes, err = encodeKey(tok.DPoPKey); err != nil {
			return record{}, err
		}
	}
	data, err := json.Marshal(struct {
		tokenFields
		JKT string `json:"dpop_jkt,omitempty"`
	}{tokenFields(*tok), rec.jkt})
	if err != nil {
		return record{}, errorf("transport: encoding token: %w", err)
	}
	if len(data) > maxFileBytes { // Load would refuse the file, and the session with it
		return record{}, errorf("transport: token of %d bytes encoded, more than a token file holds (%d)", len(data), maxFileBytes)
	}
	rec.data = data
	return rec, nil
}

// write replaces the token file, and the key file, with rec; the caller
// holds the lock. The key file is written first, under a name of its own,
// and the key files of earlier sessions are removed last: after a crash at
// any point, the token file names a key file that holds its key.
func (s *fileStore) write(rec record) error {
	if err := s.prepareDir(); err != nil {
		return err
	}
	if err := s.checkPath(); err != nil {
		return err
	}
	if rec.jkt != "" {
		if err := s.writeKey(rec.jkt, rec.keyBytes); err != nil {
			return err
		}
	}
	err := s.writeAtomic(s.path, rec.data, s.step)
	s.restat()
	if err != nil {
		return err
	}
	return s.removeKeys(rec.jkt)
}

// Clear removes the token file once it holds the store's lock. The lock
// file stays: removing it would let two processes lock two different files
// of the same name.
func (s *fileStore) Clear(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// In a directory Lock refuses, remove the file without the lock, so
	// that a logout succeeds and creates nothing there: no Load or Save
	// succeeds in it for a refresh to race with.
	if s.checkDir(filepath.Dir(s.path)) == nil {
		_, unlock, err := s.Lock(ctx)
		if err != nil {
			return err
		}
		defer unlock()
	}
	return s.remove()
}

func (s *fileStore) remove() error {
	defer s.restat()
	if err := os.Remove(s.path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return s.removeKeys("")
		}
		return errorf("transport: removing token file: %w", err)
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return err
	}
	return s.removeKeys("")
}

// Lock takes the exclusive OS lock on the lock file, polling until it is
// free or ctx is done. It creates the directory (mode 0700) when it is
// missing; in a directory that Load and Save refuse it fails with
// ErrUnsafeTokenFile before creating anything. The lock file is opened
// without following a symbolic link or blocking on a FIFO, and refused
// unless it is a regular file of the caller's that nobody else can open.
func (s *fileStore) Lock(ctx context.Context) (Store, func(), error) {
	release, err := s.lock.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	f, err := s.lockFile(ctx)
	if err != nil {
		release()
		return nil, nil, err
	}
	return heldFile{s}, func() { unlockFile(f); f.Close(); release() }, nil
}

// lockFile opens the lock file and takes its OS lock. flock(2) cannot wait
// for a context, so it polls: a refresh holds the lock for one round trip,
// so waiters are few and short-lived.
func (s *fileStore) lockFile(ctx context.Context) (*os.File, error) {
	if err := s.prepareDir(); err != nil {
		return nil, err
	}
	f, err := s.openLockFile()
	if err != nil {
		return nil, err
	}
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		ok, err := tryLockFile(f)
		if err != nil {
			f.Close()
			return nil, errorf("transport: locking %s: %w", s.lockPath, err)
		}
		if ok {
			return f, nil
		}
		if delay == time.Millisecond {
			s.lock.waiting()
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, ctx.Err()
		}
	}
}

// openLockFile opens (creating it 0600) the lock file and checks it.
func (s *fileStore) openLockFile() (*os.File, error) {
	f, err := os.OpenFile(s.lockPath, os.O_CREATE|os.O_RDONLY|openFlags, 0o600)
	if err != nil {
		if fi, lerr := os.Lstat(s.lockPath); lerr == nil {
			if cerr := s.checkInfo(fi, s.lockPath); cerr != nil {
				return nil, cerr // explains O_NOFOLLOW's error
			}
		}
		return nil, errorf("transport: lock file: %w", err)
	}
	if err := s.checkFile(f, s.lockPath); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// prepareDir checks the token directory, creates it (0700) when it is
// missing, and checks it again: nothing goes into a directory the store
// refuses.
func (s *fileStore) prepareDir() error {
	dir := filepath.Dir(s.path)
	if err := s.checkDir(dir); err != nil { // before anything is created
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return errorf("transport: token directory: %w", err)
	}
	return s.checkDir(dir)
}

// Version identifies the file's state, looking at the file at most once
// per statInterval and after each Save and Clear through this store.
func (s *fileStore) Version() uint64 {
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	n, next := now().UnixNano(), s.nextStat.Load()
	// A clock that went back more than an interval also looks again.
	if (n >= next || n < next-int64(statInterval)) && s.nextStat.CompareAndSwap(next, n+int64(statInterval)) {
		s.restat()
	}
	return s.version.Load()
}

// restat records the file's current state.
func (s *fileStore) restat() {
	var v uint64
	fi, err := os.Lstat(s.path)
	switch {
	case err == nil:
		v = fileVersion(fi)
	case errors.Is(err, fs.ErrNotExist):
		v = 0
	default:
		v = 1 // unreadable: a Load will say why
	}
	s.version.Store(v)
}

// heldFile is a fileStore as the holder of its lock sees it: Save and
// Clear do not lock, and Version looks at the file every time.
type heldFile struct{ s *fileStore }

func (h heldFile) Load(ctx context.Context) (*Token, error) { return h.s.Load(ctx) }
func (h heldFile) Version() uint64                          { h.s.restat(); return h.s.version.Load() }

func (h heldFile) Save(ctx context.Context, tok *Token) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rec, err := encodeToken(tok)
	if err != nil {
		return err
	}
	return h.s.write(rec)
}

func (h heldFile) Clear(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return h.s.remove()
}

// checkPath refuses an existing token file that is a symbolic link, not a
// regular file, or unsafe by checkOwnerAndMode. A missing file is fine.
func (s *fileStore) checkPath() error {
	fi, err := os.Lstat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return errorf("transport: token file: %w", err)
	}
	return s.checkInfo(fi, s.path)
}

// checkFile checks an open file by fstat.
func (s *fileStore) checkFile(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return errorf("transport: %s: %w", path, err)
	}
	return s.checkInfo(fi, path)
}

func (s *fileStore) checkInfo(fi fs.FileInfo, path string) error {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return errorf("%w: %s is a symbolic link; refusing to follow it", ErrUnsafeTokenFile, path)
	}
	if !fi.Mode().IsRegular() {
		return errorf("%w: %s is not a regular file", ErrUnsafeTokenFile, path)
	}
	return s.checkOwnerAndMode(path, fi)
}

// saveStep names the points of writeAtomic at which a test can interrupt it.
type saveStep int

const (
	stepCreated  saveStep = iota // temporary file created, empty
	stepWritten                  // content written, not synced
	stepSynced                   // content synced, not renamed
	stepRenamed                  // renamed over the old file, directory not synced
	stepKeySaved                 // a new key file in place, the token file not yet written
)

func (s *fileStore) step(st saveStep) error {
	if s.saveHook != nil {
		return s.saveHook(st)
	}
	return nil
}

// writeAtomic replaces the file at path with data, calling step at each
// stepCreated...stepRenamed.
func (s *fileStore) writeAtomic(path string, data []byte, step func(saveStep) error) (err error) {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*") // mode 0600
	if err != nil {
		return errorf("transport: writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = errorf("transport: writing %s: %w", path, err)
		}
	}()
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

// versionOf mixes values into a version that is neither 0 (no file) nor 1
// (unreadable).
func versionOf(vs ...uint64) uint64 {
	h := uint64(14695981039346656037)
	for _, v := range vs {
		h ^= v
		h *= 1099511628211
		h ^= h >> 29
	}
	return max(h, 2)
}
