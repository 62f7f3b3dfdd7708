package keys_test

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/keys"
)

// A token service signs with the current key; after a rotation the old key
// keeps verifying the tokens it signed until it is retired.
func ExampleSet() {
	seed := make([]byte, ed25519.SeedSize) // use crypto/rand in real code
	k1, err := keys.NewEdDSA("2026-01", ed25519.NewKeyFromSeed(seed))
	if err != nil {
		panic(err)
	}
	set, err := keys.NewSet(k1)
	if err != nil {
		panic(err)
	}
	tok, err := set.Sign(jwt.RegisteredClaims{
		Subject:   "alice",
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(5 * time.Minute)),
	})
	if err != nil {
		panic(err)
	}

	seed[0] = 1
	k2, _ := keys.NewEdDSA("2026-02", ed25519.NewKeyFromSeed(seed))
	_ = set.Replace(k2, k1) // rotate: k2 signs, k1 still verifies

	var c jwt.RegisteredClaims
	_, err = jwt.ParseWithClaims(tok, &c, set.Keyfunc) // Keyfunc pins the algorithm to the key
	fmt.Println(c.Subject, err, set.Generation(), set.Current().KID())
	// Output: alice <nil> 2 2026-02
}
