package redisstore_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies: the store does not compile the JWT verifier, and the
// middleware does not compile the Redis client, though the store
// implements the middleware's replay check (structurally).
func TestDependencies(t *testing.T) {
	for pkg, banned := range map[string][]string{
		"github.com/jwtrefresh/jwtrefresh/redisstore": {"github.com/jwtrefresh/jwtrefresh/middleware",
			"github.com/jwtrefresh/jwtrefresh/keys", "github.com/golang-jwt/jwt"},
		"github.com/jwtrefresh/jwtrefresh/middleware": {"github.com/redis/go-redis"},
	} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range banned {
				if strings.HasPrefix(dep, b) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
