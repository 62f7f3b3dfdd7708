package middleware

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/keys"
)

// The differential target: every token this middleware accepts, golang-jwt
// v5 configured the same way must accept too, with equal claims. The
// middleware may refuse more (repeated or case-folded member names, a
// `crit` header, an `iat` in the future without golang-jwt's opt-in...).

const (
	diffIssuer = "https://issuer.example"
	diffLeeway = 30 * time.Second
)

var diffAudience = []string{"api", "other"}

// diffSeeds are header and claims documents that the middleware accepts,
// in many spellings, so that most mutations of them are accepted too (a
// mutated string value, member or number) and the comparison is made.
var diffSeeds = func() [][2]string {
	exp := t0.Add(5 * time.Minute).Unix()
	iat := t0.Unix()
	headers := []string{
		`{"alg":"HS256","kid":"hs","typ":"at+jwt"}`,
		`{"alg":"HS256","typ":"at+jwt"}`,
		`{"typ":"application/at+jwt","alg":"HS256"}`,
		`{"alg":"HS256","kid":null,"typ":"AT+JWT"}`,
		` { "alg" : "HS256" , "kid" : "hs" , "typ" : "at+jwt" , "x5t" : "abc" } `,
		`{"\u0061lg":"HS256","kid":"h\u0073","typ":"at\u002bjwt","cty":"JWT","jku":null}`,
		`{"alg":"HS256","kid":"","typ":"Application/AT+jwt","ext":{"a":[1,2,{"b":null}],"c":true}}`,
	}
	claims := []string{
		fmt.Sprintf(`{"iss":%q,"sub":"alice","aud":"api","exp":%d,"nbf":%d,"iat":%d,"jti":"j1","sid":"s1","scope":"read write"}`, diffIssuer, exp, iat, iat),
		fmt.Sprintf(`{"iss":%q,"aud":["other","x"],"exp":%d}`, diffIssuer, exp),
		fmt.Sprintf(`{"exp":%d.5,"aud":["api"],"iss":%q,"scope":["read","admin"]}`, exp, diffIssuer),
		fmt.Sprintf(`{"iss":%q,"aud":"api","exp":"%d","nbf":"%d","sub":"b\u00f6b"}`, diffIssuer, exp, iat),
		fmt.Sprintf(`{"iss":%q,"aud":"api","exp":%de0,"iat":%d.25,"sub":"\ud83d\ude00 \u0000"}`, diffIssuer, exp, iat),
		fmt.Sprintf(`{"iss":%q,"aud":"api","exp":%d,"nbf":null,"iat":null,"sub":null,"jti":null,"sid":null,"scope":null}`, diffIssuer, exp),
		fmt.Sprintf("{\"iss\":%q,\n\t\"aud\" : [ \"api\" ] ,\r\n\"exp\":%d, \"roles\":[\"a\",{\"b\":[1e3,-0.5,true,false,null]}],\"n\":-12.5E+3}", diffIssuer, exp),
		fmt.Sprintf(`{"iss":%q,"aud":"api","exp":%d,"scope":"","sid":"s\"quoted\\","sub":"tab\there"}`, diffIssuer, exp),
		fmt.Sprintf(`{"iss":%q,"aud":"api","exp":%d,"nbf":%d,"iat":%d}`, diffIssuer, exp, t0.Add(diffLeeway).Unix(), t0.Add(-time.Hour).Unix()),
		fmt.Sprintf(`{"iss":%q,"aud":"api","exp":%d,"Tenant":"acme","nested":{"sub":"x","SUB":"y"}}`, diffIssuer, t0.Add(-diffLeeway+time.Second).Unix()),
	}
	// Claims sets without the required members: the target appends them
	// (see withRequired), so mutations here are compared too.
	partial := []string{
		`{}`,
		`{"sub":"alice","jti":"j2","sid":"s2","scope":"read"}`,
		`{"sub":"\u0061lice","scope":["a","b","c"],"deep":[[[[{"x":[]}]]]]}`,
		`{ "sid" : "s3" , "num" : 0.000001e-7 , "str" : "\/\b\f\n\r\t" }`,
		`{"iat":1767323045,"nbf":1767323045.999,"jti":"\u00e9\u4e2d"}`,
	}
	var seeds [][2]string
	for i, c := range partial {
		seeds = append(seeds, [2]string{headers[i%len(headers)], c})
	}
	for i, c := range claims {
		// Every claims set with two headers, so each header meets several.
		seeds = append(seeds, [2]string{headers[i%len(headers)], c}, [2]string{headers[(i+3)%len(headers)], c})
	}
	return seeds
}()

// diffCount counts what the target saw in this process, for the report a
// long run writes (see reportDiff): inputs, tokens made from them, the
// tokens the middleware accepted in each configuration, and the inputs
// whose own header and claims it accepted (in either configuration).
var diffCount struct{ inputs, tokens, strict, lax, raw atomic.Int64 }

// reportDiff writes "inputs tokens strict lax raw" (see diffCount) for this
// process to a file named after its pid in $JWTREFRESH_FUZZ_REPORT, if
// set: go test -fuzz runs the target in worker processes, so the totals of
// a run are the sums over the files.
func reportDiff() {
	dir := os.Getenv("JWTREFRESH_FUZZ_REPORT")
	if dir == "" {
		return
	}
	line := fmt.Sprintf("%d %d %d %d %d\n", diffCount.inputs.Load(), diffCount.tokens.Load(),
		diffCount.strict.Load(), diffCount.lax.Load(), diffCount.raw.Load())
	_ = os.WriteFile(filepath.Join(dir, fmt.Sprint(os.Getpid())), []byte(line), 0o644)
}

// diffTypeOK is the `typ` check added to golang-jwt, which has none:
// "at+jwt" in any case, with or without "application/".
func diffTypeOK(t *jwt.Token) bool {
	typ, ok := t.Header["typ"].(string)
	typ = strings.ToLower(typ)
	return ok && strings.TrimPrefix(typ, "application/") == "at+jwt"
}

// diffPair is the middleware and golang-jwt's parser configured alike.
type diffPair struct {
	ours    *Middleware
	parser  *jwt.Parser
	keyfunc jwt.Keyfunc
}

// diffPairs returns two configurations: strict (issuer, audience and type
// required, as the token service's tokens are checked) and lax (only what
// every verifier checks), which accepts many more of the mutated inputs.
func diffPairs() (strict, lax diffPair) {
	set := must(keys.NewSet(hsKey))
	fixed := func() time.Time { return t0 }
	common := []jwt.ParserOption{jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(), jwt.WithLeeway(diffLeeway), jwt.WithTimeFunc(fixed)}
	strict = diffPair{
		ours: must(New(set, withClock(fixed), WithIssuer(diffIssuer), WithAudience(diffAudience...),
			WithTokenType("at+jwt"), WithLeeway(diffLeeway, diffLeeway))),
		parser: jwt.NewParser(append(common, jwt.WithIssuer(diffIssuer), jwt.WithAudience(diffAudience...))...),
		keyfunc: func(t *jwt.Token) (any, error) {
			if !diffTypeOK(t) {
				return nil, fmt.Errorf("typ %v refused", t.Header["typ"])
			}
			return set.Keyfunc(t)
		},
	}
	lax = diffPair{
		ours:    must(New(set, withClock(fixed), WithLeeway(diffLeeway, diffLeeway))),
		parser:  jwt.NewParser(common...),
		keyfunc: set.Keyfunc,
	}
	return strict, lax
}

// check verifies tok with both sides and reports whether the middleware
// accepted it.
func (p diffPair) check(t *testing.T, tok, header, claims string) bool {
	got, err := p.ours.Verify(context.Background(), tok)
	if err != nil {
		return false
	}
	var want Claims
	if _, err := p.parser.ParseWithClaims(tok, &want, p.keyfunc); err != nil {
		t.Fatalf("accepted here, refused by golang-jwt: %v\nheader %q\nclaims %q", err, header, claims)
	}
	if !sameClaims(got, &want) {
		t.Fatalf("claims differ\nours       %+v\ngolang-jwt %+v\nheader %q\nclaims %q", got, &want, header, claims)
	}
	return true
}

// diffHeader is a header both configurations accept.
const diffHeader = `{"alg":"HS256","kid":"hs","typ":"at+jwt"}`

// withRequired appends the members the strict configuration requires
// (`iss`, `aud`, `exp`) inside the final brace of claims, so that a mutated
// claims set lacking them still makes a token that can be accepted. If
// claims has them already, the names repeat, and the middleware refuses.
func withRequired(claims string) string {
	c := strings.TrimRight(claims, " \t\r\n")
	if !strings.HasSuffix(c, "}") {
		return claims
	}
	body := strings.TrimRight(c[:len(c)-1], " \t\r\n")
	if !strings.HasSuffix(body, "{") {
		body += ","
	}
	return body + fmt.Sprintf(`"iss":%q,"aud":"api","exp":%d}`, diffIssuer, t0.Add(time.Minute).Unix())
}

// nested makes doc the value of an extra member of the object good (a
// header or claims set both configurations accept), so that any valid JSON
// value, or members spliced in after one, makes a token that can be
// accepted, and the handling of nested values is compared too.
func nested(good, doc string) string {
	return good[:len(good)-1] + `,"x":` + doc + `}`
}

// FuzzVerifyMatchesGolangJWT signs each mutated header and claims set with
// the test key, so that inputs get past the signature, and checks that a
// token the middleware accepts is accepted by golang-jwt's parser with the
// same settings (algorithm, key set, clock, leeway, exp required, iat
// checked; issuer, audience and type in the strict configuration) and
// decodes to equal claims. Each input makes five tokens: its own header
// and claims; its header with the required claims appended to its claims;
// the latter under a header both configurations accept; and its header, and
// its claims, each nested as a member's value in a document both
// configurations accept, next to the other part accepted as well. So a
// mutation in one part does not keep the other from being compared, and
// any valid JSON value makes an acceptable token.
func FuzzVerifyMatchesGolangJWT(f *testing.F) {
	for _, s := range diffSeeds {
		f.Add(s[0], s[1])
	}
	strict, lax := diffPairs()
	fuzzing := flag.Lookup("test.fuzz").Value.String() != ""
	before := diffCount.strict.Load()
	f.Cleanup(func() {
		reportDiff()
		// A run that accepts nothing proves nothing: every seed makes a
		// token the strict configuration accepts.
		if n := diffCount.strict.Load() - before; !fuzzing && n < int64(len(diffSeeds)) {
			f.Errorf("the middleware accepted %d tokens made from the %d seeds", n, len(diffSeeds))
		}
	})
	f.Fuzz(func(t *testing.T, header, claims string) {
		full, good := withRequired(claims), withRequired("{}")
		for i, hc := range [...][2]string{
			{header, claims}, {header, full}, {diffHeader, full},
			{nested(diffHeader, header), good}, {diffHeader, nested(good, claims)},
		} {
			tok := rawHS256(hc[0], hc[1])
			s := strict.check(t, tok, hc[0], hc[1])
			l := lax.check(t, tok, hc[0], hc[1])
			if s {
				diffCount.strict.Add(1)
			}
			if l {
				diffCount.lax.Add(1)
			}
			if i == 0 && (s || l) {
				diffCount.raw.Add(1)
			}
		}
		diffCount.tokens.Add(5)
		if n := diffCount.inputs.Add(1); n%4096 == 0 {
			reportDiff()
		}
	})
}

// sameClaims compares claims by value: nil and empty lists are the same
// list, and dates are compared as instants.
func sameClaims(a, b *Claims) bool {
	sameDate := func(x, y *jwt.NumericDate) bool {
		return (x == nil) == (y == nil) && (x == nil || x.Equal(y.Time))
	}
	return a.Issuer == b.Issuer && a.Subject == b.Subject && a.ID == b.ID && a.SessionID == b.SessionID &&
		slices.Equal(a.Audience, b.Audience) && slices.Equal(a.Scope, b.Scope) &&
		sameDate(a.ExpiresAt, b.ExpiresAt) && sameDate(a.NotBefore, b.NotBefore) && sameDate(a.IssuedAt, b.IssuedAt)
}
