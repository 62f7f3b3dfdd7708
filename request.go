package jwtrefresh

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// params are the parameters of a token or revocation request that the
// endpoints read. Others are ignored, as RFC 6749 §3.2 asks.
type params struct {
	grantType      string
	refreshToken   string
	token          string // RFC 7009
	tokenTypeHint  string // RFC 7009; only a hint, formats tell tokens apart
	clientID       string // optional for public clients; not checked
	idempotencyKey string // "" for none
	json           bool   // the body was JSON
}

// Content types of request bodies.
const (
	contentForm = "application/x-www-form-urlencoded"
	contentJSON = "application/json"
)

// readParams reads and checks the parameters of a POST to a token or
// revocation endpoint: body (form or JSON, at most maxBody bytes), client
// authentication and Idempotency-Key header. Every refusal is an answer of
// its own; a request refused here never reaches the store.
func readParams(w http.ResponseWriter, r *http.Request, maxBody int64) (params, *wireError) {
	var p params
	if r.URL.RawQuery != "" && credentialsInQuery(r.URL.RawQuery) {
		// A token in a URL ends up in access logs and browser history.
		return p, respCredsInQuery
	}
	kind, e := bodyKind(r.Header["Content-Type"])
	if e != nil {
		return p, e
	}
	if r.ContentLength > maxBody {
		return p, respTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
			return p, respTooLarge
		}
		return p, respMalformedBody
	}
	var secret string
	p.json = kind == contentJSON
	if kind == contentForm {
		secret, e = p.decodeForm(body)
	} else {
		secret, e = p.decodeJSON(body)
	}
	if e != nil {
		return p, e
	}
	if secret != "" {
		return p, respSecretParam
	}
	if e := p.clientAuth(r.Header["Authorization"]); e != nil {
		return p, e
	}
	if p.idempotencyKey, e = idempotencyKey(r.Header["Idempotency-Key"]); e != nil {
		return p, e
	}
	return p, nil
}

// credentialsInQuery reports a token or secret among the URL's parameters.
func credentialsInQuery(raw string) bool {
	q, _ := url.ParseQuery(raw) // what parsed, even if some did not
	for _, name := range [...]string{"refresh_token", "token", "access_token", "client_secret"} {
		if _, ok := q[name]; ok {
			return true
		}
	}
	return false
}

// bodyKind checks the Content-Type: form (RFC 6749 §6) or JSON, UTF-8.
func bodyKind(values []string) (string, *wireError) {
	if len(values) != 1 {
		return "", respUnsupportedType
	}
	mt, ps, err := mime.ParseMediaType(values[0])
	if err != nil || (mt != contentForm && mt != contentJSON) {
		return "", respUnsupportedType
	}
	if cs, ok := ps["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "", respUnsupportedType
	}
	return mt, nil
}

// set stores one parameter of the request; a parameter sent twice is
// refused (RFC 6749 §3.2), and an empty one counts as absent.
func (p *params) set(name, value string) *wireError {
	var dst *string
	switch name {
	case "grant_type":
		dst = &p.grantType
	case "refresh_token":
		dst = &p.refreshToken
	case "token":
		dst = &p.token
	case "token_type_hint":
		dst = &p.tokenTypeHint
	case "client_id":
		dst = &p.clientID
	default:
		return nil
	}
	if *dst != "" && value != "" {
		return respRepeatedParam
	}
	if value != "" {
		*dst = value
	}
	return nil
}

// decodeForm reads an application/x-www-form-urlencoded body, accepting
// exactly what url.ParseQuery accepts, without building its map. It
// returns the client_secret parameter for the caller to refuse.
func (p *params) decodeForm(body []byte) (secret string, e *wireError) {
	rest := string(body)
	for rest != "" {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if strings.Contains(pair, ";") {
			return "", respMalformedBody
		}
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		name, err1 := url.QueryUnescape(name)
		value, err2 := url.QueryUnescape(value)
		if err1 != nil || err2 != nil {
			return "", respMalformedBody
		}
		if name == "client_secret" {
			secret += value
		} else if e := p.set(name, value); e != nil {
			return "", e
		}
	}
	return secret, nil
}

// decodeJSON reads a JSON object body such as {"refresh_token":"…"}.
// Known members must be strings and appear once; others are skipped.
func (p *params) decodeJSON(body []byte) (secret string, e *wireError) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", respMalformedBody
	}
	seen := make(map[string]bool, 4)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", respMalformedBody
		}
		name, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", respMalformedBody
		}
		var v string
		switch name {
		case "grant_type", "refresh_token", "token", "token_type_hint", "client_id", "client_secret":
			if err := json.Unmarshal(raw, &v); err != nil {
				return "", respMalformedBody
			}
			if seen[name] {
				return "", respRepeatedParam
			}
			seen[name] = true
		default:
			continue
		}
		if name == "client_secret" {
			secret = v
		} else if e := p.set(name, v); e != nil {
			return "", e
		}
	}
	if _, err := dec.Token(); err != nil {
		return "", respMalformedBody
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", respMalformedBody
	}
	return secret, nil
}

// clientAuth reads HTTP Basic client credentials (RFC 6749 §2.3.1). This
// service has public clients only: empty credentials (x/oauth2 sends them
// when it probes) and a client id without a password are accepted; a
// password is refused, since it could not be checked. Other schemes are
// ignored.
func (p *params) clientAuth(values []string) *wireError {
	switch len(values) {
	case 0:
		return nil
	case 1:
	default:
		return respBadAuthz
	}
	scheme, rest, _ := strings.Cut(strings.TrimLeft(values[0], " \t"), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Trim(rest, " \t"))
	if err != nil {
		return respBadAuthz
	}
	id, secret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return respBadAuthz
	}
	// The client id and password are form-encoded inside the header.
	if id, err = url.QueryUnescape(id); err != nil {
		return respBadAuthz
	}
	if secret, err = url.QueryUnescape(secret); err != nil {
		return respBadAuthz
	}
	switch {
	case secret != "":
		return respSecretBasic
	case id == "":
	case p.clientID == "":
		p.clientID = id
	case p.clientID != id:
		return respClientIDs
	}
	return nil
}

// idempotencyKey reads the optional Idempotency-Key header: one non-empty
// value, checked with the refresh (session.Secrets.Rotation).
func idempotencyKey(values []string) (string, *wireError) {
	switch {
	case len(values) == 0:
		return "", nil
	case len(values) > 1, values[0] == "": // present but empty: not a way to send no key
		return "", respBadIdemKey
	}
	return values[0], nil
}
