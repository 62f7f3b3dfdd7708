package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ReadTokenResponse reads an RFC 6749 token endpoint response (from a
// refresh, or from an application's own login endpoint that answers in the
// same format) and closes its body. At most 1 MiB of the body is read.
//
// A 200 answer yields the validated Token, its Expiry computed from
// expires_in against the current time; a malformed one yields an error
// wrapping ErrInvalidResponse. Any other status yields a *ResponseError
// carrying the RFC 6749 §5.2 error code and the Retry-After delay. An error
// reading the body is returned as is. A nil resp is an error, and a nil
// Body is read as an empty one.
func ReadTokenResponse(resp *http.Response) (*Token, error) {
	if resp == nil {
		return nil, errors.New("transport: ReadTokenResponse: nil response")
	}
	return readTokenResponse(resp, time.Now(), nil)
}

// readTokenResponse is ReadTokenResponse at now. The server's error text is
// scrubbed of secrets, the credentials the request presented.
func readTokenResponse(resp *http.Response, now time.Time, secrets []string) (*Token, error) {
	r := resp.Body
	if r == nil {
		r = http.NoBody
	}
	defer r.Close()
	body, err := io.ReadAll(io.LimitReader(r, maxResponseBytes+1))
	if err != nil {
		return nil, errorf("transport: reading token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, responseError(resp, body, now, secrets)
	}
	if len(body) > maxResponseBytes {
		return nil, errorf("%w: larger than %d bytes", ErrInvalidResponse, maxResponseBytes)
	}
	var tok Token
	if err := tok.decode(body, now, false); err != nil {
		return nil, errorf("%w: %w", ErrInvalidResponse, err)
	}
	if err := tok.validate(true); err != nil {
		return nil, errorf("%w: %w", ErrInvalidResponse, err)
	}
	return &tok, nil
}

// responseError builds the *ResponseError of a non-200 answer. A body that is
// not an RFC 6749 error object leaves Code empty rather than failing: the
// status alone still decides what the Transport does.
func responseError(resp *http.Response, body []byte, now time.Time, secrets []string) *ResponseError {
	e := &ResponseError{StatusCode: resp.StatusCode}
	var f struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(bytes.TrimSpace(body), &f) == nil {
		e.Code = scrub(f.Error, 64, secrets)
		e.Description = scrub(f.Description, maxDescription, secrets)
	}
	e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
	return e
}

// redactedText replaces a secret in a server's text.
const redactedText = "[REDACTED]"

// minSecret is the length below which a string is not worth scrubbing: no
// real token is that short, and replacing it could mangle the text.
const minSecret = 8

// scrub returns s as printable cuts it, with every secret removed: as is,
// and form-encoded, as it went over the wire. A server may echo the token
// it refuses ("refresh token ... has expired"); that text goes into error
// messages, which applications log. It is scrubbed before it is cut, so no
// prefix of a secret survives either.
func scrub(s string, n int, secrets []string) string {
	s = printable(s, len(s))
	for _, secret := range secrets {
		if len(secret) < minSecret {
			continue
		}
		s = strings.ReplaceAll(s, secret, redactedText)
		if q := url.QueryEscape(secret); q != secret {
			s = strings.ReplaceAll(s, q, redactedText)
		}
	}
	return printable(s, n)
}

// printable cuts s to n bytes of visible ASCII, so that a server's text can
// neither forge log lines nor grow without bound.
func printable(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < n; i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// maxRetryAfter bounds what a server can ask a client to wait.
const maxRetryAfter = time.Hour

// retryAfter parses RFC 9110 §10.2.3 Retry-After: delay-seconds or an
// HTTP-date. It returns zero for an absent or malformed value.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, maxRetryAfter))
}
