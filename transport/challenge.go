package transport

import "strings"

// challenge is one RFC 9110 §11.6.1 authentication challenge of a
// WWW-Authenticate header:
//
//	challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//	auth-param = token BWS "=" BWS ( token / quoted-string )
type challenge struct {
	Scheme  string
	Token68 string
	Params  []challengeParam
}

type challengeParam struct {
	Name, Value string
}

// param returns the value of the named parameter (case-insensitive, as
// RFC 9110 says) and whether it was present.
func (c *challenge) param(name string) (string, bool) {
	for _, p := range c.Params {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return "", false
}

// parseChallenges parses one WWW-Authenticate field value, which may hold
// several challenges. The grammar is ambiguous only at the comma that ends a
// parameter list: what follows is another parameter when it reads
// "token BWS = value", otherwise a new challenge. Parsing stops at the first
// malformed element and returns the challenges complete before it, so a
// server's syntax error costs at most what it garbled.
func parseChallenges(s string) []challenge {
	p := challengeParser{s: s}
	var out []challenge
	for {
		p.skipSeparators()
		if p.done() {
			return out
		}
		c := challenge{Scheme: p.token()}
		if c.Scheme == "" {
			return out
		}
		spaced := p.skipWhitespace()
		if p.done() || p.peek() == ',' {
			out = append(out, c)
			continue
		}
		if !spaced {
			return out
		}
		if name, at, ok := p.paramStart(); ok {
			for ok {
				p.i = at
				value, valid := p.value()
				if !valid {
					return append(out, c)
				}
				c.Params = append(c.Params, challengeParam{Name: name, Value: value})
				p.skipWhitespace()
				if p.done() {
					break
				}
				if p.peek() != ',' {
					return append(out, c)
				}
				p.skipSeparators()
				// Another parameter, or else a new challenge (or the end).
				name, at, ok = p.paramStart()
			}
			out = append(out, c)
			continue
		}
		c.Token68 = p.token68()
		p.skipWhitespace()
		if c.Token68 == "" || !p.done() && p.peek() != ',' {
			return out
		}
		out = append(out, c)
	}
}

type challengeParser struct {
	s string
	i int
}

func (p *challengeParser) done() bool { return p.i >= len(p.s) }
func (p *challengeParser) peek() byte { return p.s[p.i] }

func (p *challengeParser) skipWhitespace() bool {
	start := p.i
	p.i = skipWS(p.s, p.i)
	return p.i > start
}

// skipSeparators skips the empty list elements RFC 9110 §5.6.1 allows.
func (p *challengeParser) skipSeparators() {
	for !p.done() && (p.peek() == ' ' || p.peek() == '\t' || p.peek() == ',') {
		p.i++
	}
}

func (p *challengeParser) token() string {
	start := p.i
	for !p.done() && isTokenChar(p.peek()) {
		p.i++
	}
	return p.s[start:p.i]
}

// paramStart looks ahead, consuming nothing: does an auth-param start at
// the current position? It returns its name and where its value begins.
func (p *challengeParser) paramStart() (name string, valueAt int, ok bool) {
	q := p.i
	for q < len(p.s) && isTokenChar(p.s[q]) {
		q++
	}
	name = p.s[p.i:q]
	q = skipWS(p.s, q)
	if name == "" || q >= len(p.s) || p.s[q] != '=' {
		return "", 0, false
	}
	q = skipWS(p.s, q+1)
	// "name=" followed by nothing, "=" or "," is the tail of a token68.
	if q >= len(p.s) || p.s[q] == '=' || p.s[q] == ',' {
		return "", 0, false
	}
	return name, q, true
}

func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// value reads a token or a quoted-string (RFC 9110 §5.6.4), unescaping
// quoted-pairs.
func (p *challengeParser) value() (string, bool) {
	if p.done() {
		return "", false
	}
	if p.peek() != '"' {
		v := p.token()
		return v, v != ""
	}
	p.i++
	var b strings.Builder
	for !p.done() {
		c := p.peek()
		p.i++
		switch c {
		case '"':
			return b.String(), true
		case '\\':
			if p.done() {
				return "", false
			}
			c = p.peek()
			p.i++
		}
		b.WriteByte(c)
	}
	return "", false
}

// token68 reads 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func (p *challengeParser) token68() string {
	start := p.i
	for !p.done() && isB64Char(p.peek()) {
		p.i++
	}
	if p.i == start {
		return ""
	}
	for !p.done() && p.peek() == '=' {
		p.i++
	}
	return p.s[start:p.i]
}

// isTokenChar reports whether c is an RFC 9110 §5.6.2 tchar.
func isTokenChar(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// bearerVerdict inspects the WWW-Authenticate fields of a 401. found says
// whether a Bearer challenge was present; refresh whether it says the token
// is missing or invalid (RFC 6750 §3.1), the only cases a new token can
// cure. insufficient_scope, invalid_request and unknown codes are not.
func bearerVerdict(values []string) (found, refresh bool) {
	return verdict(values, "Bearer")
}

// verdict is bearerVerdict for the challenge of scheme: Bearer, or DPoP
// (RFC 9449 §7.1), whose invalid_token means the same. Its
// use_dpop_nonce and invalid_dpop_proof are not cured by a refresh.
func verdict(values []string, scheme string) (found, refresh bool) {
	found, code := schemeError(values, scheme)
	return found, found && (code == "" || code == "invalid_token")
}

// schemeError returns whether the WWW-Authenticate fields hold a challenge
// of scheme, and the error code of the first one.
func schemeError(values []string, scheme string) (found bool, code string) {
	for _, v := range values {
		for _, c := range parseChallenges(v) {
			if strings.EqualFold(c.Scheme, scheme) {
				code, _ = c.param("error")
				return true, code
			}
		}
	}
	return false, ""
}
