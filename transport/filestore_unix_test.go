//go:build unix

package transport

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFileStoreRefusesUnsafeFiles(t *testing.T) {
	ctx := context.Background()
	good := &Token{AccessToken: "a", RefreshToken: "r"}
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, path string)
		mention string
	}{
		{"group readable", func(t *testing.T, path string) { writeToken(t, path, 0o640) }, "chmod 600"},
		{"world readable", func(t *testing.T, path string) { writeToken(t, path, 0o604) }, "chmod 600"},
		{"group writable", func(t *testing.T, path string) { writeToken(t, path, 0o620) }, "chmod 600"},
		{"symlink", func(t *testing.T, path string) {
			target := path + ".target"
			writeToken(t, target, 0o600)
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}, "symbolic link"},
		{"directory", func(t *testing.T, path string) { os.Mkdir(path, 0o700) }, "not a regular file"},
		{"fifo", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
		{"other owner", func(t *testing.T, path string) { writeToken(t, path, 0o600) }, "owned by uid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(privateDir(t), "token.json")
			tc.prepare(t, path)
			store, _ := newFileStore(path)
			if tc.name == "other owner" {
				setEUID(t, store, os.Geteuid()+1)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, err := store.Load(ctx)
				if !errors.Is(err, ErrUnsafeTokenFile) || !strings.Contains(err.Error(), tc.mention) {
					t.Errorf("Load: %v; want ErrUnsafeTokenFile mentioning %q", err, tc.mention)
				}
				if err := store.Save(ctx, good); !errors.Is(err, ErrUnsafeTokenFile) {
					t.Errorf("Save: %v; want ErrUnsafeTokenFile", err)
				}
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Load blocked")
			}
			if tc.name == "symlink" {
				if data, _ := os.ReadFile(path + ".target"); string(data) != `{"access_token":"x"}` {
					t.Errorf("the link's target was changed: %s", data)
				}
			}
		})
	}
}

func writeToken(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(`{"access_token":"x"}`), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask aside
		t.Fatal(err)
	}
}

func TestFileStoreKeepsExistingDirectoryMode(t *testing.T) {
	dir := filepath.Join(privateDir(t), "shared")
	os.Mkdir(dir, 0o755)
	os.Chmod(dir, 0o755)
	store, _ := newFileStore(filepath.Join(dir, "token.json"))
	if err := store.Save(context.Background(), &Token{AccessToken: "a"}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o755 {
		t.Errorf("an existing directory's mode was changed to %v", fi.Mode().Perm())
	}
}

// TestFileStoreRefusesUnsafeDirectory: like ssh, a FileStore refuses a token
// file in a directory that group or others can write to (they could replace
// the file or hold its lock), or that another user owns; Clear still works.
func TestFileStoreRefusesUnsafeDirectory(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		mode    os.FileMode
		owner   bool // pretend another user owns the directory
		mention []string
		never   string // advice that would be wrong here
	}{
		{name: "group writable", mode: 0o770, mention: []string{"mode 0770", "chmod go-w", "os.UserConfigDir()"}},
		{name: "world writable", mode: 0o777, mention: []string{"mode 0777", "chmod go-w", "os.UserConfigDir()"}},
		// Like /tmp: shared on purpose, so no chmod advice, and the
		// mode shown with its sticky bit.
		{name: "sticky world writable", mode: 0o777 | os.ModeSticky, mention: []string{"mode 01777", "directory of your own", "os.UserConfigDir()"}, never: "chmod"},
		{name: "other owner", mode: 0o700, owner: true, mention: []string{"owned by uid", "os.UserConfigDir()"}, never: "chmod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := privateDir(t)
			path := filepath.Join(dir, "token.json")
			store, _ := newFileStore(path)
			if err := store.Save(ctx, &Token{AccessToken: "a", RefreshToken: "r"}); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.mode); err != nil {
				t.Fatal(err)
			}
			if tc.owner {
				giveAway(t, store, dir)
			}
			_, err := store.Load(ctx)
			if !errors.Is(err, ErrUnsafeTokenFile) || !strings.Contains(err.Error(), "directory "+dir) {
				t.Fatalf("Load: %v; want ErrUnsafeTokenFile naming the directory", err)
			}
			wantMentions(t, "Load", err, tc.mention, tc.never)
			if err := store.Save(ctx, &Token{AccessToken: "b"}); !errors.Is(err, ErrUnsafeTokenFile) {
				t.Errorf("Save: %v; want ErrUnsafeTokenFile", err)
			}
			if err := store.Clear(ctx); err != nil {
				t.Errorf("Clear: %v; a logout must work anyway", err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("token file still there: %v", err)
			}
		})
	}
	// A directory nobody else can write to is fine, also when created.
	for _, mode := range []os.FileMode{0o700, 0o755, 0o750} {
		dir := filepath.Join(privateDir(t), "d")
		os.Mkdir(dir, mode)
		os.Chmod(dir, mode)
		store, _ := newFileStore(filepath.Join(dir, "token.json"))
		if err := store.Save(ctx, &Token{AccessToken: "a"}); err != nil {
			t.Errorf("mode %#o: %v", mode, err)
		}
	}
}

// giveAway makes another user than the caller own dir, as store sees it:
// root gives it away; anyone else pretends to be another user.
func giveAway(t *testing.T, store *fileStore, dir string) {
	if uid := os.Geteuid(); uid != 0 {
		setEUID(t, store, uid+1)
		return
	}
	// Root-owned directories are allowed; give it away.
	if err := os.Chown(dir, 4242, 4242); err != nil {
		t.Fatal(err)
	}
}

// wantMentions checks that err says everything in mention and not never.
func wantMentions(t *testing.T, what string, err error, mention []string, never string) {
	t.Helper()
	for _, m := range mention {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%s: %v; want it to say %q", what, err, m)
		}
	}
	if never != "" && strings.Contains(err.Error(), never) {
		t.Errorf("%s: %v; must not say %q", what, err, never)
	}
}

// TestFileStoreCreatesNothingInUnsafeDirectory: in a directory like /tmp
// (world-writable, sticky), nothing is created before the refusal: not the
// token file, not its lock file, whether the application saves a login,
// takes the lock, or a Transport tries a request, a login or a logout.
func TestFileStoreCreatesNothingInUnsafeDirectory(t *testing.T) {
	ctx := context.Background()
	dir := privateDir(t)
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	store, err := newFileStore(filepath.Join(dir, "t.json"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New("https://auth.example.com/auth/refresh", store)
	if err != nil {
		t.Fatal(err)
	}
	login := &Token{AccessToken: "a", RefreshToken: "r"}
	for _, step := range []struct {
		name string
		run  func() error
		ok   bool
	}{
		{"Save", func() error { return store.Save(ctx, login) }, false},
		{"Lock", func() error {
			_, unlock, err := store.Lock(ctx)
			if err == nil {
				unlock()
			}
			return err
		}, false},
		{"Load", func() error { _, err := store.Load(ctx); return err }, false},
		{"request", func() error {
			_, err := tr.RoundTrip(httptest.NewRequest("GET", "https://auth.example.com/auth/sessions", nil))
			return err
		}, false},
		{"Transport.Login", func() error { return tr.Login(ctx, login) }, false},
		// A logout always succeeds: there is nothing to clear.
		{"Clear", func() error { return store.Clear(ctx) }, true},
		{"Transport.Logout", func() error { return tr.Logout(ctx) }, true},
	} {
		err := step.run()
		if step.ok && err != nil {
			t.Errorf("%s: %v", step.name, err)
		}
		if !step.ok && !errors.Is(err, ErrUnsafeTokenFile) {
			t.Errorf("%s: %v; want ErrUnsafeTokenFile", step.name, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("after %s the directory holds %s; want nothing", step.name, entries[0].Name())
		}
	}
}

// TestFileStoreRefusesUnsafeAncestor: a private token directory below a
// directory that others can write to (without the sticky bit), or that
// another user owns, is refused too, as ssh does: they could rename the
// token directory and put their own in its place. A sticky directory such as
// /tmp above it is fine. Nothing is created before the refusal.
func TestFileStoreRefusesUnsafeAncestor(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mode  os.FileMode
		owner bool // another user owns the ancestor
		ok    bool
	}{
		{name: "world writable", mode: 0o777},
		{name: "group writable", mode: 0o770},
		{name: "other owner", mode: 0o755, owner: true},
		{name: "sticky world writable", mode: 0o777 | os.ModeSticky, ok: true},
		{name: "private", mode: 0o755, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shared := filepath.Join(privateDir(t), "shared")
			mine := filepath.Join(shared, "mine")
			if err := os.MkdirAll(mine, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(shared, tc.mode); err != nil {
				t.Fatal(err)
			}
			pretend := false
			if tc.owner {
				if os.Geteuid() == 0 {
					if err := os.Chown(shared, 4242, 4242); err != nil {
						t.Fatal(err)
					}
				} else {
					// Without root nothing can be given away: pretend to be
					// another user, so that "mine" (checked first) is
					// refused for its owner instead; see the check below.
					pretend = true
				}
			}
			for _, sub := range []string{"", "new"} { // an existing and a missing token directory
				wantAncestorRefused(t, shared, mine, sub, tc.ok, tc.owner, pretend)
			}
		})
	}
}

// wantAncestorRefused checks that a store in mine/sub, below shared, saves
// (ok) or refuses saying why, creating nothing.
func wantAncestorRefused(t *testing.T, shared, mine, sub string, ok, owner, pretend bool) {
	t.Helper()
	dir := filepath.Join(mine, sub)
	path := filepath.Join(dir, "token.json")
	store, err := newFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if pretend {
		setEUID(t, store, os.Geteuid()+1)
	}
	err = store.Save(context.Background(), &Token{AccessToken: "a", RefreshToken: "r"})
	if ok {
		if err != nil {
			t.Fatalf("%s: Save: %v", path, err)
		}
		return
	}
	if !errors.Is(err, ErrUnsafeTokenFile) || !strings.Contains(err.Error(), "directory "+shared+", above the token file") {
		if !(owner && os.Geteuid() != 0 && strings.Contains(err.Error(), "directory "+mine)) {
			t.Fatalf("%s: Save: %v; want ErrUnsafeTokenFile naming %s", path, err, shared)
		}
	}
	if !strings.Contains(err.Error(), "os.UserConfigDir()") || strings.Contains(err.Error(), "chmod") {
		t.Errorf("Save: %v; want the advice of a directory of one's own, no chmod", err)
	}
	wantNothingCreated(t, store, sub != "")
}

// wantNothingCreated checks that store refuses to load and has created
// neither its file nor its lock file, nor (dirToo) its directory.
func wantNothingCreated(t *testing.T, store *fileStore, dirToo bool) {
	t.Helper()
	if _, err := store.Load(context.Background()); !errors.Is(err, ErrUnsafeTokenFile) {
		t.Errorf("Load: %v; want ErrUnsafeTokenFile", err)
	}
	if _, err := os.Stat(store.path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("token file created: %v", err)
	}
	if _, err := os.Stat(store.path + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file created: %v", err)
	}
	if dirToo {
		if _, err := os.Stat(filepath.Dir(store.path)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("token directory created: %v", err)
		}
	}
}

// TestFileStoreRefusesUnsafeLockFile: the lock file is opened without
// following a symbolic link or blocking on a FIFO, and anything but a
// regular file of the user's that nobody else can open is refused. A FIFO
// planted at the lock path used to make Save block past its deadline.
func TestFileStoreRefusesUnsafeLockFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, lockPath string) (euid int)
		mention string
	}{
		{"fifo", func(t *testing.T, lockPath string) int {
			if err := syscall.Mkfifo(lockPath, 0o600); err != nil {
				t.Fatal(err)
			}
			return os.Geteuid()
		}, "not a regular file"},
		{"symlink", func(t *testing.T, lockPath string) int {
			writeToken(t, lockPath+".target", 0o600)
			if err := os.Symlink(lockPath+".target", lockPath); err != nil {
				t.Fatal(err)
			}
			return os.Geteuid()
		}, "symbolic link"},
		{"directory", func(t *testing.T, lockPath string) int {
			if err := os.Mkdir(lockPath, 0o700); err != nil {
				t.Fatal(err)
			}
			return os.Geteuid()
		}, "not a regular file"},
		{"world readable", func(t *testing.T, lockPath string) int {
			writeToken(t, lockPath, 0o644)
			return os.Geteuid()
		}, "chmod 600"},
		{"other owner", func(t *testing.T, lockPath string) int {
			writeToken(t, lockPath, 0o600)
			return os.Geteuid() + 1
		}, "owned by uid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			path := filepath.Join(privateDir(t), "token.json")
			store, _ := newFileStore(path)
			if euid := tc.prepare(t, path+".lock"); euid != os.Geteuid() {
				setEUID(t, store, euid)
			}
			tr, err := New("https://auth.example.com/token", store)
			if err != nil {
				t.Fatal(err)
			}
			for name, call := range map[string]func() error{
				"Save":            func() error { return store.Save(ctx, &Token{AccessToken: "a", RefreshToken: "r"}) },
				"Lock":            func() error { _, _, err := store.Lock(ctx); return err },
				"Transport.Login": func() error { return tr.Login(ctx, &Token{AccessToken: "a", RefreshToken: "r"}) },
			} {
				done := make(chan error, 1)
				go func() { done <- call() }()
				var err error
				select {
				case err = <-done:
				case <-time.After(20 * time.Second):
					t.Fatalf("%s blocked", name) // an open(2) of a FIFO does not return
				}
				if !errors.Is(err, ErrUnsafeTokenFile) || !strings.Contains(err.Error(), tc.mention) {
					t.Errorf("%s: %v; want ErrUnsafeTokenFile mentioning %q", name, err, tc.mention)
				}
				if ctx.Err() != nil {
					t.Fatalf("%s waited until the deadline", name)
				}
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("token file written despite the lock file: %v", err)
			}
		})
	}
}
