package transport

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A file store keeps a session's DPoP key (Token.DPoPKey) in a file of its
// own beside the token file, named after the key's RFC 7638 thumbprint,
// which the token file records: token.json.dpop-<jkt>.key, a PKCS #8 PEM
// private key, 0600 and checked like the token file. A token leaked alone,
// from a log, a proxy or a copy of the token file, is useless without it.

const (
	keyFileInfix  = ".dpop-"
	keyFileSuffix = ".key"
	// maxKeyBytes bounds what is read of a key file.
	maxKeyBytes = 64 << 10
	pemKeyType  = "PRIVATE KEY"
)

// encodeKey returns key's thumbprint and its key file's content.
func encodeKey(key crypto.Signer) (jkt string, data []byte, err error) {
	jkt, err = thumbprint(key)
	if err != nil {
		return "", nil, errorf("transport: the session's DPoP key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", nil, errorf("transport: a file store cannot save this DPoP key (%T); use DPoP.Key for a key kept elsewhere: %w", key, err)
	}
	return jkt, pem.EncodeToMemory(&pem.Block{Type: pemKeyType, Bytes: der}), nil
}

// keyPath is the key file of the key with thumbprint jkt.
func (s *fileStore) keyPath(jkt string) string { return s.path + keyFileInfix + jkt + keyFileSuffix }

// isThumbprint reports whether jkt is a SHA-256 thumbprint in base64url, so
// that a token file's record cannot name another file.
func isThumbprint(jkt string) bool {
	if len(jkt) != 43 {
		return false
	}
	for i := 0; i < len(jkt); i++ {
		if c := jkt[i]; !isB64Char(c) || c == '.' || c == '~' || c == '+' || c == '/' {
			return false
		}
	}
	return true
}

// writeKey writes the key file of jkt, unless it holds data already. Each
// key has a file of its own: the token file that names it is written
// after it, so that the old token file, until it is replaced, still names
// the old key's file.
func (s *fileStore) writeKey(jkt string, data []byte) error {
	path := s.keyPath(jkt)
	if old, err := s.readKeyFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := s.checkKeyPath(path); err != nil {
		return err
	}
	if err := s.writeAtomic(path, data, func(saveStep) error { return nil }); err != nil {
		return err
	}
	return s.step(stepKeySaved)
}

// checkKeyPath refuses an existing key file as checkPath does the token
// file.
func (s *fileStore) checkKeyPath(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return errorf("transport: DPoP key file: %w", err)
	}
	return s.checkInfo(fi, path)
}

// readKeyFile reads a key file, refusing it as Load refuses the token file.
func (s *fileStore) readKeyFile(path string) ([]byte, error) {
	if err := s.checkKeyPath(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := s.checkFile(f, path); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyBytes+1))
	if err == nil && len(data) > maxKeyBytes {
		err = errors.New("too large")
	}
	return data, err
}

// loadKey reads the key the token file names. A missing or damaged key
// file, or one holding another key, leaves a session that cannot be used:
// ErrLoginRequired.
func (s *fileStore) loadKey(jkt string) (crypto.Signer, error) {
	if !isThumbprint(jkt) {
		return nil, errorf("%w: token file %s names no valid DPoP key thumbprint", ErrLoginRequired, s.path)
	}
	path := s.keyPath(jkt)
	data, err := s.readKeyFile(path)
	switch {
	case errors.Is(err, ErrUnsafeTokenFile):
		return nil, err
	case err != nil:
		return nil, errorf("%w: the session's DPoP key file: %w", ErrLoginRequired, err)
	}
	key, err := decodeKey(data)
	if err == nil {
		var got string
		if got, err = thumbprint(key); err == nil && got != jkt {
			err = errors.New("it holds another key")
		}
	}
	if err != nil {
		return nil, errorf("%w: DPoP key file %s: %w", ErrLoginRequired, path, err)
	}
	return key, nil
}

func decodeKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != pemKeyType {
		return nil, errors.New("not a PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("not a signing key")
	}
	return signer, nil
}

// removeKeys removes the key files beside the token file but keep's (""
// for all of them): those of earlier sessions, and any a crash left
// behind.
func (s *fileStore) removeKeys(keep string) error {
	dir, base := filepath.Split(s.path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return errorf("transport: DPoP key files: %w", err)
	}
	prefix := base + keyFileInfix
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, prefix)
		jkt, ok2 := strings.CutSuffix(rest, keyFileSuffix)
		if !ok || !ok2 || jkt == keep || !isThumbprint(jkt) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return errorf("transport: removing DPoP key file: %w", err)
		}
	}
	return nil
}
