package transport

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseChallenges(t *testing.T) {
	p := func(name, value string) challengeParam { return challengeParam{Name: name, Value: value} }
	for _, tc := range []struct {
		in   string
		want []challenge
	}{
		{``, nil},
		{`Bearer`, []challenge{{Scheme: "Bearer"}}},
		{`Bearer realm="api"`, []challenge{{Scheme: "Bearer", Params: []challengeParam{p("realm", "api")}}}},
		{`Bearer realm="api", error="invalid_token", error_description="the access token expired"`,
			[]challenge{{Scheme: "Bearer", Params: []challengeParam{p("realm", "api"), p("error", "invalid_token"), p("error_description", "the access token expired")}}}},
		{`bearer error=invalid_token`, []challenge{{Scheme: "bearer", Params: []challengeParam{p("error", "invalid_token")}}}},
		{`Basic realm="a, b", Bearer error="insufficient_scope"`,
			[]challenge{{Scheme: "Basic", Params: []challengeParam{p("realm", "a, b")}}, {Scheme: "Bearer", Params: []challengeParam{p("error", "insufficient_scope")}}}},
		{`Negotiate abc+/==, Bearer`, []challenge{{Scheme: "Negotiate", Token68: "abc+/=="}, {Scheme: "Bearer"}}},
		{`Newauth abc=`, []challenge{{Scheme: "Newauth", Token68: "abc="}}},
		{`Bearer realm = "x" , , error = "e"`, []challenge{{Scheme: "Bearer", Params: []challengeParam{p("realm", "x"), p("error", "e")}}}},
		{`, Bearer ,`, []challenge{{Scheme: "Bearer"}}},
		{`Bearer error="a\"b\\c"`, []challenge{{Scheme: "Bearer", Params: []challengeParam{p("error", `a"b\c`)}}}},
		// Malformed: keep what came before the damage.
		{`Basic realm="x", Bearer error="unterminated`, []challenge{{Scheme: "Basic", Params: []challengeParam{p("realm", "x")}}, {Scheme: "Bearer"}}},
		{`Bearer realm="x" junk`, []challenge{{Scheme: "Bearer", Params: []challengeParam{p("realm", "x")}}}},
		{`"quoted"`, nil},
		{`Bearer, =x`, []challenge{{Scheme: "Bearer"}}},
		{`Bearer@ x`, nil},
	} {
		got := parseChallenges(tc.in)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseChallenges(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

func TestBearerVerdict(t *testing.T) {
	for _, tc := range []struct {
		values         []string
		found, refresh bool
	}{
		{nil, false, false},
		{[]string{`Basic realm="x"`}, false, false},
		{[]string{`Bearer realm="api"`}, true, true},
		{[]string{`Bearer realm="api", error="invalid_token", error_description="the access token expired"`}, true, true},
		{[]string{`BEARER error="invalid_token"`}, true, true},
		{[]string{`Bearer error="insufficient_scope", scope="admin"`}, true, false},
		{[]string{`Bearer error="invalid_request"`}, true, false},
		{[]string{`Basic realm="x"`, `Bearer error="invalid_token"`}, true, true},
		{[]string{`DPoP error="invalid_token"`}, false, false},
	} {
		found, refresh := bearerVerdict(tc.values)
		if found != tc.found || refresh != tc.refresh {
			t.Errorf("%q: found=%v refresh=%v, want %v %v", tc.values, found, refresh, tc.found, tc.refresh)
		}
	}
}

// FuzzParseChallenges checks that any header parses without panicking into
// well-formed challenges that survive formatting and parsing again.
func FuzzParseChallenges(f *testing.F) {
	for _, s := range []string{
		`Bearer realm="api", error="invalid_token", error_description="the access token expired"`,
		`Basic realm="a, b", Bearer error="insufficient_scope"`,
		`Negotiate abc+/==, Bearer`, `Newauth abc=`, `Bearer error="a\"b\\c"`, `, ,Bearer ,`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs := parseChallenges(s)
		for _, c := range cs {
			if !isToken(c.Scheme) {
				t.Fatalf("scheme %q is not a token", c.Scheme)
			}
			if c.Token68 != "" && (len(c.Params) > 0 || !isB64Token(c.Token68)) {
				t.Fatalf("bad token68 %q", c.Token68)
			}
			for _, p := range c.Params {
				if !isToken(p.Name) {
					t.Fatalf("param name %q is not a token", p.Name)
				}
			}
			again := parseChallenges(c.String())
			if len(again) != 1 || !reflect.DeepEqual(again[0], c) {
				t.Fatalf("round trip of %q: %+v != %+v", c.String(), again, c)
			}
		}
		bearerVerdict([]string{s})
	})
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return s != ""
}

// String formats the challenge back into header syntax, every parameter
// value quoted, for the fuzz target's round trip.
func (c *challenge) String() string {
	var b strings.Builder
	b.WriteString(c.Scheme)
	if c.Token68 != "" {
		b.WriteByte(' ')
		b.WriteString(c.Token68)
	}
	for i, p := range c.Params {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(p.Name)
		b.WriteString(`="`)
		for j := 0; j < len(p.Value); j++ {
			if ch := p.Value[j]; ch == '"' || ch == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(p.Value[j])
		}
		b.WriteByte('"')
	}
	return b.String()
}
