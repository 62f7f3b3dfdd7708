package transport

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFileStore(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(privateDir(t), "new", "dir")
	store, err := newFileStore(filepath.Join(dir, "token.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Load(ctx); !errors.Is(err, ErrNoToken) {
		t.Fatalf("empty store: %v", err)
	}
	tok := &Token{AccessToken: "a", TokenType: "Bearer", RefreshToken: "r", ExpiresIn: 60,
		Expiry: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), IdempotencyKey: "k"}
	if err := store.Save(ctx, tok); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]fs.FileMode{dir: 0o700, store.Path(): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %#o", path, fi.Mode().Perm(), err, want)
		}
	}
	got, err := store.Load(ctx)
	if err != nil || *got != *tok {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	tok.AccessToken = "b"
	if err := store.Save(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Load(ctx); got.AccessToken != "b" {
		t.Error("Save did not replace the token")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want only the token file and its lock file", len(entries))
	}
	for range 2 {
		if err := store.Clear(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.Load(ctx); !errors.Is(err, ErrNoToken) {
		t.Errorf("after Clear: %v", err)
	}
	wantCancelledRefused(t, store, tok)
}

// wantCancelledRefused checks that store's Load and Save refuse an ended
// context.
func wantCancelledRefused(t *testing.T, store Store, tok *Token) {
	t.Helper()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := store.Load(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a cancelled context: %v", err)
	}
	if err := store.Save(cancelled, tok); !errors.Is(err, context.Canceled) {
		t.Errorf("Save with a cancelled context: %v", err)
	}
}

func TestFileStoreBadContent(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		noToken       bool // ErrNoToken rather than another error
	}{
		{"not json", "hello", false},
		{"wrong types", `{"access_token":1}`, false},
		{"too large", `{"access_token":"` + strings.Repeat("a", maxFileBytes) + `"}`, false},
		{"empty", "", true},
		{"blank", " \n", true},
		{"empty object", "{}", true},
		{"null", "null", true},
		{"empty tokens", `{"access_token":"","refresh_token":""}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(privateDir(t), "token.json")
			os.WriteFile(path, []byte(tc.content), 0o600)
			store, _ := newFileStore(path)
			_, err := store.Load(context.Background())
			if err == nil || errors.Is(err, ErrNoToken) != tc.noToken || !strings.Contains(err.Error(), path) {
				t.Errorf("got %v; want an error naming the file, ErrNoToken %v", err, tc.noToken)
			}
		})
	}
	if _, err := NewFileStore(""); err == nil {
		t.Error("empty path accepted")
	}
}

// TestFileStoreInterruptedWrite stops a Save at each step with an error: the
// file keeps its old content until the rename, and no temporary file stays.
func TestFileStoreInterruptedWrite(t *testing.T) {
	for step := stepCreated; step <= stepRenamed; step++ {
		t.Run(fmt.Sprint(step), func(t *testing.T) {
			dir := privateDir(t)
			store, _ := newFileStore(filepath.Join(dir, "token.json"))
			ctx := context.Background()
			store.Save(ctx, &Token{AccessToken: "old"})
			store.saveHook = func(s saveStep) error {
				if s == step {
					return errors.New("interrupted")
				}
				return nil
			}
			if err := store.Save(ctx, &Token{AccessToken: "new"}); err == nil {
				t.Fatal("interrupted Save reported success")
			}
			want := "old"
			if step == stepRenamed {
				want = "new"
			}
			if got, err := store.Load(ctx); err != nil || got.AccessToken != want {
				t.Errorf("after interruption at step %d: %v %v, want %q", step, got, err, want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 2 { // token.json, token.json.lock
				t.Errorf("%d entries left in the directory", len(entries))
			}
		})
	}
}

// TestFileStoreKilledMidWrite kills a process (SIGKILL) at each step of its
// Save: the file holds the old or the new content, never anything else.
// With a DPoP key, the process is also killed between the key file's write
// and the token file's: the token file and the key file still belong
// together, the old session's or the new one's.
func TestFileStoreKilledMidWrite(t *testing.T) {
	dpopModes(t, func(t *testing.T, dpop bool) {
		steps := []saveStep{stepCreated, stepWritten, stepSynced, stepRenamed}
		if dpop {
			steps = append(steps, stepKeySaved)
		}
		for _, step := range steps {
			t.Run(fmt.Sprint(step), func(t *testing.T) { testKilledMidWrite(t, step, dpop) })
		}
	})
}

func testKilledMidWrite(t *testing.T, step saveStep, dpop bool) {
	dir := privateDir(t)
	file := filepath.Join(dir, "token.json")
	store, _ := newFileStore(file)
	ctx := context.Background()
	old := &Token{AccessToken: "old", RefreshToken: "old-rt"}
	env := []string{"JT_FILE=" + file, fmt.Sprintf("JT_STEP=%d", step)}
	if dpop {
		old.TokenType, old.DPoPKey = "DPoP", newKey(t, algES256)
		env = append(env, "JT_DPOP=1") // the new token's key is an EdDSA one
	}
	store.Save(ctx, old)
	cmd := child(t, "save-crash", env...)
	if err := cmd.Run(); err == nil {
		t.Fatalf("child survived step %d", step)
	}
	want := "old"
	if step == stepRenamed {
		want = "new"
	}
	got, err := store.Load(ctx)
	if err != nil || got.AccessToken != want || got.RefreshToken != want+"-rt" {
		t.Fatalf("killed at step %d: %v %v, want %q", step, got, err, want)
	}
	if !dpop {
		return
	}
	// Load checked that the key file holds the key the token file names.
	if _, isOld := got.DPoPKey.(*ecdsa.PrivateKey); isOld != (want == "old") {
		t.Errorf("killed at step %d: the %s token came with a %T", step, want, got.DPoPKey)
	}
	// The next save removes what the crash left behind.
	if err := store.Save(ctx, got); err != nil {
		t.Fatal(err)
	}
	if n := len(keyFiles(t, dir)); n != 1 {
		t.Errorf("%d key files after the next save, want 1", n)
	}
}

// keyFiles lists the DPoP key files in dir.
func keyFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), keyFileSuffix) {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestFileStoreLockHonoursContext(t *testing.T) {
	store, _ := newFileStore(filepath.Join(privateDir(t), "token.json"))
	_, unlock, err := store.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newFileStore(store.Path()) // another handle: the OS lock, not the in-process one
	for _, s := range []*fileStore{store, other} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		if _, _, err := s.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("second Lock: %v", err)
		}
		cancel()
	}
	unlock()
	_, unlock2, err := other.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
	if _, err := os.Stat(store.Path() + ".lock"); err != nil {
		t.Errorf("lock file: %v", err)
	}
}

func (s saveStep) String() string {
	return [...]string{"created", "written", "synced", "renamed"}[s]
}

// TestStoresRefuseWhatWouldLoseTheSession: saving nil, or a token too large
// for a token file, is an error that leaves the stored session as it was
// (it used to wipe the file, panic, or write a file Load refuses); so is
// a Login with a context that has ended.
func TestStoresRefuseWhatWouldLoseTheSession(t *testing.T) {
	ctx := context.Background()
	file, err := newFileStore(filepath.Join(privateDir(t), "token.json"))
	if err != nil {
		t.Fatal(err)
	}
	for name, store := range map[string]Store{"FileStore": file, "MemoryStore": NewMemoryStore(nil)} {
		t.Run(name, func(t *testing.T) {
			kept := &Token{AccessToken: "a", RefreshToken: "r"}
			if err := store.Save(ctx, kept); err != nil {
				t.Fatal(err)
			}
			if err := store.Save(ctx, nil); err == nil {
				t.Error("Save(nil): no error")
			}
			if name == "FileStore" {
				huge := &Token{AccessToken: "a", RefreshToken: "r", IdempotencyKey: strings.Repeat("k", maxFileBytes)}
				if err := store.Save(ctx, huge); err == nil {
					t.Error("Save of a token larger than a token file: no error")
				}
			}
			rt, err := New("https://auth.example.com/auth/refresh", store)
			if err != nil {
				t.Fatal(err)
			}
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			if err := rt.Login(cancelled, &Token{AccessToken: "b", RefreshToken: "s"}); !errors.Is(err, context.Canceled) {
				t.Errorf("Login with an ended context: %v; want context.Canceled", err)
			}
			got, err := store.Load(ctx)
			if err != nil || got.AccessToken != "a" || got.RefreshToken != "r" {
				t.Fatalf("stored session after the refusals: %+v, %v; want the one saved first", got, err)
			}
		})
	}
}
