package middleware

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The JOSE header and the claims set are JSON objects whose member names
// are case-sensitive (RFC 7515 §4, RFC 7519 §4). encoding/json matches
// names to struct fields case-insensitively and lets a repeated name
// overwrite the first, so {"sub":"alice","Sub":"admin"} would decode to
// "admin". This file reads the top level of such an object itself: names
// are matched exactly, and a document is refused when its names are
// ambiguous (see checkNames). Values of the members the middleware reads
// are decoded here too, which is also faster than reflection.
//
// FuzzDecodeClaims and FuzzDecodeHeader compare this reader with
// encoding/json; FuzzVerifyMatchesGolangJWT checks, on signed tokens, that
// every token the middleware accepts golang-jwt accepts too, with equal
// claims.

// maxDepth is encoding/json's nesting limit: both accept the same
// documents.
const maxDepth = 10000

var (
	errJSONSyntax = errors.New("invalid JSON")
	errJSONType   = errors.New("a member has the wrong JSON type")
	// errAmbiguous: RFC 7515 §4 lets a parser reject a repeated member
	// name or keep the last one; a verifier rejects it, and also a name
	// that differs from another, or from a name the middleware reads, only
	// in case, because other JSON decoders (encoding/json, and so
	// ClaimsAs) take such names for the same member.
	errAmbiguous = errors.New("member names repeated or differing only in case")
)

// member is one top-level member of a JSON object: its name, unescaped,
// and its raw value, both usually substrings of the document.
type member struct {
	name, value string
}

// members appends the top-level members of the JSON object doc to dst,
// after checking the whole of doc is valid JSON (RFC 8259) as
// encoding/json would: invalid UTF-8 in strings is let through, to be
// replaced when decoded, as it does.
func members(doc string, dst []member) ([]member, error) {
	i := skipSpace(doc, 0)
	if i == len(doc) || doc[i] != '{' {
		return nil, errJSONSyntax
	}
	i = skipSpace(doc, i+1)
	if i < len(doc) && doc[i] == '}' {
		i++
	} else {
		for {
			m, end, ok := scanMember(doc, i)
			if !ok {
				return nil, errJSONSyntax
			}
			dst = append(dst, m)
			i = skipSpace(doc, end)
			if i < len(doc) && doc[i] == ',' {
				i = skipSpace(doc, i+1)
				continue
			}
			if i < len(doc) && doc[i] == '}' {
				i++
				break
			}
			return nil, errJSONSyntax
		}
	}
	if skipSpace(doc, i) != len(doc) {
		return nil, errJSONSyntax
	}
	return dst, nil
}

// scanMember reads the member `"name": value` of a top-level object
// starting at doc[i], and returns it with the end of its value.
func scanMember(doc string, i int) (m member, end int, ok bool) {
	if i == len(doc) || doc[i] != '"' {
		return m, 0, false
	}
	end, plain, ok := scanString(doc, i)
	if !ok {
		return m, 0, false
	}
	m.name = doc[i+1 : end-1]
	if !plain {
		m.name = unquote(doc[i:end])
	}
	i = skipSpace(doc, end)
	if i == len(doc) || doc[i] != ':' {
		return m, 0, false
	}
	i = skipSpace(doc, i+1)
	if end, ok = scanValue(doc, i, 2); !ok {
		return m, 0, false
	}
	m.value = doc[i:end]
	return m, end, true
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// plainByte marks the bytes a JSON string holds as they are: not a quote,
// a backslash, a control character or part of a multi-byte sequence.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString returns the end (after the closing quote) of the string
// starting at s[i] == '"', and whether its content is printable ASCII
// without escapes, so that it stands for itself.
func scanString(s string, i int) (end int, plain, ok bool) {
	plain = true
	for j := i + 1; j < len(s); j++ {
		c := s[j]
		if plainByte[c] {
			continue
		}
		switch {
		case c == '"':
			return j + 1, plain, true
		case c == '\\':
			plain = false
			j++
			if j == len(s) {
				return 0, false, false
			}
			switch s[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(s) || !isHex(s[j+1]) || !isHex(s[j+2]) || !isHex(s[j+3]) || !isHex(s[j+4]) {
					return 0, false, false
				}
				j += 4
			default:
				return 0, false, false
			}
		case c < 0x20:
			return 0, false, false
		default: // non-ASCII
			plain = false
		}
	}
	return 0, false, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanValue returns the end of the JSON value starting at s[i]; depth is
// the nesting depth a container starting there would have.
func scanValue(s string, i, depth int) (end int, ok bool) {
	if i == len(s) {
		return 0, false
	}
	switch c := s[i]; {
	case c == '"':
		end, _, ok = scanString(s, i)
		return end, ok
	case c == '{' || c == '[':
		if depth > maxDepth {
			return 0, false
		}
		return scanContainer(s, i, depth)
	case c == '-' || '0' <= c && c <= '9':
		return scanNumber(s, i)
	case c == 't':
		return literal(s, i, "true")
	case c == 'f':
		return literal(s, i, "false")
	case c == 'n':
		return literal(s, i, "null")
	}
	return 0, false
}

func literal(s string, i int, lit string) (int, bool) {
	if strings.HasPrefix(s[i:], lit) {
		return i + len(lit), true
	}
	return 0, false
}

// scanContainer returns the end of the object or array starting at s[i].
func scanContainer(s string, i, depth int) (int, bool) {
	closing := byte(']')
	object := s[i] == '{'
	if object {
		closing = '}'
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == closing {
		return i + 1, true
	}
	for {
		var ok bool
		if object {
			if i == len(s) || s[i] != '"' {
				return 0, false
			}
			if i, _, ok = scanString(s, i); !ok {
				return 0, false
			}
			i = skipSpace(s, i)
			if i == len(s) || s[i] != ':' {
				return 0, false
			}
			i = skipSpace(s, i+1)
		}
		if i, ok = scanValue(s, i, depth+1); !ok {
			return 0, false
		}
		i = skipSpace(s, i)
		switch {
		case i == len(s):
			return 0, false
		case s[i] == ',':
			i = skipSpace(s, i+1)
		case s[i] == closing:
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// scanNumber returns the end of the number starting at s[i] (RFC 8259 §6).
func scanNumber(s string, i int) (int, bool) {
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i >= len(s):
		return 0, false
	case s[i] == '0':
		i++
	case '1' <= s[i] && s[i] <= '9':
		i = scanDigits(s, i+1)
	default:
		return 0, false
	}
	if i < len(s) && s[i] == '.' {
		j := scanDigits(s, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	return scanExponent(s, i)
}

// scanExponent returns the end of the exponent, if any, starting at s[i].
func scanExponent(s string, i int) (int, bool) {
	if i == len(s) || (s[i] != 'e' && s[i] != 'E') {
		return i, true
	}
	i++
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	j := scanDigits(s, i)
	return j, j > i
}

func scanDigits(s string, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

// unquote decodes a JSON string already known to be valid, as
// encoding/json does (invalid UTF-8 becomes U+FFFD).
func unquote(quoted string) string {
	var s string
	_ = json.Unmarshal([]byte(quoted), &s) // valid by now
	return s
}

// jsonString decodes a string member: null leaves it empty (as
// encoding/json leaves a field untouched), another type is an error.
func jsonString(v string) (string, error) {
	switch {
	case v == "null":
		return "", nil
	case v[0] != '"':
		return "", errJSONType
	}
	inner := v[1 : len(v)-1]
	if strings.IndexByte(inner, '\\') < 0 && utf8.ValidString(inner) {
		return inner, nil
	}
	return unquote(v), nil
}

// checkNames refuses ambiguous member names: two that are equal or differ
// only in case, or one that differs only in case from a name in known (the
// names the caller reads). "Case" is what encoding/json folds: Unicode
// simple case folding, so "ſub" (long s) counts as "sub" too.
func checkNames(ms []member, known []string) error {
	if len(ms) > smallObject {
		return checkManyNames(ms, known)
	}
	// keys[i] compares with strings.EqualFold semantics under ASCII-only
	// folding: names with non-ASCII bytes are folded fully first.
	var buf [smallObject]string
	keys := buf[:0]
	for _, m := range ms {
		k := m.name
		if !isASCII(k) {
			k = foldName(k)
		}
		keys = append(keys, k)
	}
	for i, k := range keys {
		for _, prev := range keys[:i] {
			if asciiEqualFold(k, prev) {
				return errAmbiguous
			}
		}
		if len(k) > 5 { // longer than every known name
			continue
		}
		for _, name := range known {
			if asciiEqualFold(k, name) && ms[i].name != name {
				return errAmbiguous
			}
		}
	}
	return nil
}

// smallObject is the most members compared pair by pair; larger objects
// (a hostile header can hold a thousand) go through a map instead.
const smallObject = 16

func checkManyNames(ms []member, known []string) error {
	seen := make(map[string]bool, len(ms))
	for _, m := range ms {
		k := foldName(m.name)
		if seen[k] {
			return errAmbiguous
		}
		seen[k] = true
	}
	for _, name := range known {
		if k := foldName(name); seen[k] {
			for _, m := range ms {
				if m.name != name && foldName(m.name) == k {
					return errAmbiguous
				}
			}
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// asciiEqualFold is strings.EqualFold for ASCII letters; other bytes must
// be equal.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// foldName maps every rune of s to the smallest rune of its case-folding
// orbit, as encoding/json does before comparing names: two names fold to
// the same string exactly when strings.EqualFold holds.
func foldName(s string) string {
	var b strings.Builder
	for _, r := range s {
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		b.WriteRune(r)
	}
	return b.String()
}
