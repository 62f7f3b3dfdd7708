// Package oauth holds what the module's HTTP answers share of OAuth 2.0:
// the RFC 6749 §5.2 error body, the character set of its descriptions, and
// the Retry-After of a 503.
package oauth

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// ValidDescription reports whether s may be an error_description: RFC 6749
// §5.2 allows %x20-21 / %x23-5B / %x5D-7E, so no double quote, no
// backslash, nothing outside printable ASCII. RFC 6750 §3 asks the same of
// the WWW-Authenticate attribute.
func ValidDescription(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// ErrorBody returns the JSON body {"error":code,"error_description":description}.
// Both are the package's own constants: ErrorBody panics when description
// is outside the character set of ValidDescription (or code is empty), so
// that a bad one fails the first test that builds it.
func ErrorBody(code, description string) []byte {
	if code == "" || !ValidDescription(code) || !ValidDescription(description) {
		panic(fmt.Sprintf("oauth: error %q with description %q outside RFC 6749 §5.2", code, description))
	}
	b, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, description})
	return b
}

// RetryAfter is the Retry-After header value of d: whole seconds, rounded
// up, at least 1.
func RetryAfter(d time.Duration) string {
	return strconv.FormatInt(max(1, int64((d+time.Second-1)/time.Second)), 10)
}
