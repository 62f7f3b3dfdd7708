package dpop

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// A proof's header and claims are small JSON objects of known shape, read
// here without reflection (encoding/json cost a fifth of an Ed25519
// verify). Strings must be valid UTF-8. Member names are matched exactly (encoding/json would also
// take "HTU" for "htu"), a known name given twice is refused rather than
// resolved, and the whole document must be valid JSON.

var errJSON = errors.New("invalid JSON")

// maxDepth bounds the nesting of values that are skipped.
const maxDepth = 32

type scanner struct {
	s string
	i int
}

func (p *scanner) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// object reads a whole JSON object, calling member for each name with the
// scanner at its value; member must consume the value.
func (p *scanner) object(member func(name string) error) error {
	p.ws()
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return errJSON
	}
	p.i++
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return nil
	}
	for {
		p.ws()
		name, err := p.str()
		if err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return errJSON
		}
		p.i++
		p.ws()
		if err := member(name); err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.s) {
			return errJSON
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return errJSON
		}
	}
}

// document reads s as one object and nothing else.
func document(s string, member func(p *scanner, name string) error) error {
	p := &scanner{s: s}
	if err := p.object(func(name string) error { return member(p, name) }); err != nil {
		return err
	}
	p.ws()
	if p.i != len(p.s) {
		return errJSON
	}
	return nil
}

// str reads a string; escapes are decoded by encoding/json (rare).
func (p *scanner) str() (string, error) {
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return "", errJSON
	}
	start, escaped := p.i, false
	for p.i++; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case c == '"':
			p.i++
			if !utf8.ValidString(p.s[start:p.i]) {
				return "", errJSON // refused, where encoding/json would replace it
			}
			if !escaped {
				return p.s[start+1 : p.i-1], nil
			}
			var out string
			if json.Unmarshal([]byte(p.s[start:p.i]), &out) != nil {
				return "", errJSON
			}
			return out, nil
		case c == '\\':
			escaped = true
			p.i++ // the escaped byte; encoding/json checks the sequence
		case c < 0x20:
			return "", errJSON
		}
	}
	return "", errJSON
}

// number reads a JSON number.
func (p *scanner) number() (float64, error) {
	start := p.i
	if p.i < len(p.s) && p.s[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.s) && p.s[p.i] == '0':
		p.i++
	case p.i < len(p.s) && p.s[p.i] >= '1' && p.s[p.i] <= '9':
		p.digits()
	default:
		return 0, errJSON
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return 0, errJSON
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return 0, errJSON
		}
	}
	f, err := strconv.ParseFloat(p.s[start:p.i], 64)
	if err != nil {
		return 0, errJSON
	}
	return f, nil
}

func (p *scanner) digits() int {
	n := 0
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// skip reads any value.
func (p *scanner) skip(depth int) error {
	if depth > maxDepth || p.i >= len(p.s) {
		return errJSON
	}
	switch c := p.s[p.i]; {
	case c == '"':
		_, err := p.str()
		return err
	case c == '{':
		return p.object(func(string) error { return p.skip(depth + 1) })
	case c == '[':
		return p.array(depth)
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := p.number()
		return err
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(p.s)-p.i >= len(lit) && p.s[p.i:p.i+len(lit)] == lit {
			p.i += len(lit)
			return nil
		}
	}
	return errJSON
}

func (p *scanner) array(depth int) error {
	p.i++ // '['
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return nil
	}
	for {
		p.ws()
		if err := p.skip(depth + 1); err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.s) {
			return errJSON
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return nil
		default:
			return errJSON
		}
	}
}
