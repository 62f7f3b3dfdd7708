package jwtrefresh_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/jwtrefresh/jwtrefresh"
)

// Keys are rotated by putting the new key first and keeping the old one:
// tokens under the old key still verify, new ones are issued under the new.
func ExampleNewRefreshKeyring() {
	// From your secret store; here random: 32 bytes of crypto/rand each.
	oldKey := jwtrefresh.RefreshKey{Version: 1, Secret: make([]byte, 32)}
	newKey := jwtrefresh.RefreshKey{Version: 2, Secret: make([]byte, 32)}
	_, _ = rand.Read(oldKey.Secret)
	_, _ = rand.Read(newKey.Secret)

	before, _ := jwtrefresh.NewRefreshKeyring(oldKey)
	during, _ := jwtrefresh.NewRefreshKeyring(newKey, oldKey)
	after, _ := jwtrefresh.NewRefreshKeyring(newKey)

	tok, _ := before.Encode(before.NewFamily("alice"))
	_, err := during.Parse(tok)
	fmt.Println("old token during the rotation:", err)
	_, err = after.Parse(tok)
	fmt.Println("old token after it:", errors.Is(err, jwtrefresh.ErrInvalidToken))
	fmt.Println("new tokens under version", during.CurrentVersion())

	_, err = jwtrefresh.NewRefreshKeyring(jwtrefresh.RefreshKey{Version: 3, Secret: []byte("too short")})
	fmt.Println(errors.Is(err, jwtrefresh.ErrInvalidKey))
	_, err = jwtrefresh.NewRefreshKeyring(jwtrefresh.RefreshKey{Version: 3, Secret: make([]byte, 32)}) // never filled
	fmt.Println(errors.Is(err, jwtrefresh.ErrInvalidKey))
	// Output:
	// old token during the rotation: <nil>
	// old token after it: true
	// new tokens under version 2
	// true
	// true
}

// A refresh token is recognisable (prefix) and self-checking (MAC): garbage
// and forgeries are rejected without any I/O.
func ExampleRefreshKeyring_Parse() {
	secret := make([]byte, 32) // from your secret store; here random
	_, _ = rand.Read(secret)
	keys, _ := jwtrefresh.NewRefreshKeyring(jwtrefresh.RefreshKey{Version: 1, Secret: secret})
	tok, _ := keys.Encode(keys.NewFamily("alice"))
	fmt.Println(strings.HasPrefix(tok, jwtrefresh.RefreshTokenPrefix), len(tok))

	forged := tok[:len(tok)-1] + "A"
	if tok[len(tok)-1] == 'A' {
		forged = tok[:len(tok)-1] + "B"
	}
	_, err := keys.Parse(forged)
	fmt.Println(errors.Is(err, jwtrefresh.ErrInvalidToken))
	// Output:
	// true 151
	// true
}
