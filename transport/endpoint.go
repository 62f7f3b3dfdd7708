package transport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Endpoint is a client of an RFC 6749 token endpoint: Redeem sends one
// refresh_token grant (§6) and reads the answer (§5.1, §5.2). A Transport
// refreshes through one (see WithEndpoint); it is also usable on its own,
// with URL set. It is safe for concurrent use once configured.
type Endpoint struct {
	// URL is the token endpoint: an absolute https URL (http only on a
	// loopback host, unless the Transport has WithInsecureHTTP), without
	// credentials or a fragment.
	URL string
	// Transport sends the refresh requests; nil means the Transport's base
	// RoundTripper, or http.DefaultTransport for an Endpoint on its own.
	Transport http.RoundTripper
	// ClientID, when set, is sent as client_id (RFC 6749 §3.2.1), for
	// servers that want a public client to identify itself. Ours does not.
	ClientID string

	insecureHTTP bool             // set by New with WithInsecureHTTP
	dpop         *prover          // set by New; nil for an Endpoint on its own
	now          func() time.Time // nil: time.Now; a test seam
	// target and stamp are URL as parsed by New, checked already; empty
	// for an Endpoint on its own, which Redeem checks each time.
	target, stamp string
}

// errBadEndpoint: Redeem was given an unusable URL.
var errBadEndpoint = errors.New("transport: Redeem: refresh URL")

// Redeem sends tok's refresh token once, with key (unless empty) as its
// Idempotency-Key, and returns the validated new tokens. The result keeps
// tok's refresh token when the server returned none (RFC 6749 §6) and
// records the endpoint in RefreshURL. A non-200 answer is a *ResponseError,
// whose description never repeats tok's tokens or key; a malformed 200
// wraps ErrInvalidResponse; otherwise the error is the RoundTripper's or
// ctx's. Redeem neither retries nor reads or writes a Store.
//
// With tok.DPoPKey set, the request carries a DPoP proof by that key, and
// is sent once more with the server's nonce if it answers use_dpop_nonce;
// a DPoP-bound answer keeps the key, a Bearer one drops it.
func (e *Endpoint) Redeem(ctx context.Context, tok *Token, key string) (*Token, error) {
	if tok == nil || tok.RefreshToken == "" {
		return nil, errors.New("transport: Redeem: no refresh token")
	}
	u, stamp := e.target, e.stamp
	if u == "" {
		var err error
		if u, stamp, err = parseEndpoint(e.URL, e.insecureHTTP); err != nil {
			return nil, errorf("%w: %w", errBadEndpoint, err)
		}
	}
	resp, err := e.send(ctx, u, tok, key)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if e.now != nil {
		now = e.now
	}
	// Whatever the server writes back goes into errors: never these.
	next, err := readTokenResponse(resp, now(), []string{tok.RefreshToken, tok.AccessToken, key})
	if err != nil {
		return nil, err
	}
	if err := e.bind(tok, next); err != nil {
		return nil, err
	}
	if next.RefreshToken == "" {
		next.RefreshToken = tok.RefreshToken // RFC 6749 §6: the old one stays valid
	}
	next.RefreshURL = stamp
	return next, nil
}

// send sends the refresh request for tok, with a proof by tok.DPoPKey if
// it has one.
func (e *Endpoint) send(ctx context.Context, u string, tok *Token, key string) (*http.Response, error) {
	req, err := e.request(ctx, u, tok, key)
	if err != nil {
		return nil, err
	}
	rt := e.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	if tok.DPoPKey == nil {
		return rt.RoundTrip(req)
	}
	p := e.dpop
	if p == nil {
		p = &prover{} // remembers no nonce beyond this call
	}
	resp, _, err := p.roundTrip(rt, req, tok.DPoPKey, "")
	return resp, err
}

// bind gives next, the answer to a refresh of tok, tok's DPoP key if it is
// bound to it: a DPoP token answering no proof is refused, and so is a
// Bearer token answering one when DPoP is required.
func (e *Endpoint) bind(tok, next *Token) error {
	switch {
	case next.bound() && tok.DPoPKey == nil:
		return errorf("%w: a DPoP-bound token, and the request carried no proof", ErrInvalidResponse)
	case next.bound():
		next.DPoPKey = tok.DPoPKey
	case tok.DPoPKey != nil && e.dpop != nil && e.dpop.required:
		return errUnbound
	}
	return nil
}

// request builds the refresh request for tok. It is given the whole stored
// Token, so that state kept beside the tokens (such as a per-session key
// that signs a proof of possession) reaches every refresh request without
// changing its callers.
func (e *Endpoint) request(ctx context.Context, u string, tok *Token, key string) (*http.Request, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
	if e.ClientID != "" {
		form.Set("client_id", e.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return req, nil
}

// parseEndpoint checks a refresh URL like an origin (see parseOrigin), and
// refuses a fragment. It returns the URL to send requests to and the stamp
// that Token.RefreshURL records for it.
func parseEndpoint(raw string, allowHTTP bool) (u, stamp string, err error) {
	_, parsed, err := parseOrigin(raw, allowHTTP)
	if err != nil {
		return "", "", err
	}
	if parsed.Fragment != "" {
		return "", "", fmt.Errorf("%q has a fragment", parsed.Redacted())
	}
	return parsed.String(), canonicalURL(parsed), nil
}
