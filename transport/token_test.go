package transport

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func response(status int, body string, header ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body))}
}

func TestReadTokenResponse(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	big := strings.Repeat("a", maxResponseBytes)
	for _, tc := range []struct {
		name    string
		resp    *http.Response
		secrets []string
		want    *Token
		wantErr error
		wantRE  *ResponseError
	}{
		{name: "ok", resp: response(200, `{"access_token":"at.x.y","token_type":"Bearer","expires_in":300,"refresh_token":"rt1","scope":"a"}`),
			want: &Token{AccessToken: "at.x.y", TokenType: "Bearer", ExpiresIn: 300, RefreshToken: "rt1", Expiry: now.Add(300 * time.Second)}},
		{name: "lower-case type, no refresh token", resp: response(200, `{"access_token":"abc==","token_type":"bearer"}`),
			want: &Token{AccessToken: "abc==", TokenType: "bearer"}},
		{name: "server cannot set expiry, key or refresh URL", resp: response(200, `{"access_token":"a","expiry":"2000-01-01T00:00:00Z","idempotency_key":"k","refresh_url":"https://evil.example/token"}`),
			want: &Token{AccessToken: "a"}},
		{name: "no access token", resp: response(200, `{"token_type":"Bearer"}`), wantErr: ErrInvalidResponse},
		{name: "mac token", resp: response(200, `{"access_token":"a","token_type":"mac"}`), wantErr: ErrInvalidResponse},
		{name: "header injection", resp: response(200, `{"access_token":"a\r\nX: y"}`), wantErr: ErrInvalidResponse},
		{name: "space in token", resp: response(200, `{"access_token":"a b"}`), wantErr: ErrInvalidResponse},
		{name: "control in refresh token", resp: response(200, `{"access_token":"a","refresh_token":"r\u0000"}`), wantErr: ErrInvalidResponse},
		{name: "huge token", resp: response(200, `{"access_token":"`+strings.Repeat("a", maxTokenBytes+1)+`"}`), wantErr: ErrInvalidResponse},
		// expires_in in every shape servers send; anything unusable is
		// unknown rather than a reason to throw the tokens away.
		{name: "expires_in string", resp: response(200, `{"access_token":"a","expires_in":"3600"}`),
			want: &Token{AccessToken: "a", ExpiresIn: 3600, Expiry: now.Add(time.Hour)}},
		{name: "expires_in padded string", resp: response(200, `{"access_token":"a","expires_in":" 60 "}`),
			want: &Token{AccessToken: "a", ExpiresIn: 60, Expiry: now.Add(time.Minute)}},
		{name: "expires_in float", resp: response(200, `{"access_token":"a","expires_in":3600.0}`),
			want: &Token{AccessToken: "a", ExpiresIn: 3600, Expiry: now.Add(time.Hour)}},
		{name: "expires_in exponent", resp: response(200, `{"access_token":"a","expires_in":3.6e3}`),
			want: &Token{AccessToken: "a", ExpiresIn: 3600, Expiry: now.Add(time.Hour)}},
		{name: "expires_in fraction", resp: response(200, `{"access_token":"a","expires_in":"0.5"}`),
			want: &Token{AccessToken: "a", ExpiresIn: 1, Expiry: now.Add(500 * time.Millisecond)}},
		{name: "expires_in huge", resp: response(200, `{"access_token":"a","expires_in":1e300}`),
			want: &Token{AccessToken: "a", ExpiresIn: maxExpiresIn, Expiry: now.Add(maxLifetime)}},
		{name: "expires_in negative", resp: response(200, `{"access_token":"a","expires_in":-5}`), want: &Token{AccessToken: "a"}},
		{name: "expires_in zero", resp: response(200, `{"access_token":"a","expires_in":0}`), want: &Token{AccessToken: "a"}},
		{name: "expires_in null", resp: response(200, `{"access_token":"a","expires_in":null}`), want: &Token{AccessToken: "a"}},
		{name: "expires_in word", resp: response(200, `{"access_token":"a","expires_in":"soon"}`), want: &Token{AccessToken: "a"}},
		{name: "expires_in infinity", resp: response(200, `{"access_token":"a","expires_in":"Infinity"}`),
			want: &Token{AccessToken: "a", ExpiresIn: maxExpiresIn, Expiry: now.Add(maxLifetime)}},
		{name: "expires_in NaN", resp: response(200, `{"access_token":"a","expires_in":"NaN"}`), want: &Token{AccessToken: "a"}},
		{name: "expires_in bool", resp: response(200, `{"access_token":"a","expires_in":true}`), want: &Token{AccessToken: "a"}},
		{name: "expires_in object", resp: response(200, `{"access_token":"a","expires_in":{"s":1}}`), want: &Token{AccessToken: "a"}},
		// Without expires_in, a JWT's lifetime counts from arrival,
		// whatever its exp says against our clock.
		{name: "jwt lifetime", resp: response(200, `{"access_token":"`+jwtWith(`{"iat":1000,"exp":1300}`)+`"}`),
			want: &Token{AccessToken: jwtWith(`{"iat":1000,"exp":1300}`), Expiry: now.Add(300 * time.Second)}},
		{name: "jwt lifetime capped", resp: response(200, `{"access_token":"`+jwtWith(`{"iat":1,"exp":1099511627775}`)+`"}`),
			want: &Token{AccessToken: jwtWith(`{"iat":1,"exp":1099511627775}`), Expiry: now.Add(maxLifetime)}},
		{name: "jwt exp before iat", resp: response(200, `{"access_token":"`+jwtWith(`{"iat":1300,"exp":1000}`)+`"}`),
			want: &Token{AccessToken: jwtWith(`{"iat":1300,"exp":1000}`)}},
		{name: "jwt exp only", resp: response(200, `{"access_token":"`+jwtWith(`{"exp":1300}`)+`"}`),
			want: &Token{AccessToken: jwtWith(`{"exp":1300}`)}},
		{name: "expires_in wins over jwt", resp: response(200, `{"access_token":"`+jwtWith(`{"iat":1000,"exp":1300}`)+`","expires_in":60}`),
			want: &Token{AccessToken: jwtWith(`{"iat":1000,"exp":1300}`), ExpiresIn: 60, Expiry: now.Add(time.Minute)}},
		{name: "not json", resp: response(200, `access_token=a&token_type=bearer`), wantErr: ErrInvalidResponse},
		{name: "too large", resp: response(200, `{"access_token":"a","x":"`+big+`"}`), wantErr: ErrInvalidResponse},
		{name: "invalid_grant", resp: response(400, `{"error":"invalid_grant","error_description":"reused"}`),
			wantRE: &ResponseError{StatusCode: 400, Code: "invalid_grant", Description: "reused"}},
		{name: "503 retry-after seconds", resp: response(503, `{"error":"temporarily_unavailable"}`, "Retry-After", "7"),
			wantRE: &ResponseError{StatusCode: 503, Code: "temporarily_unavailable", RetryAfter: 7 * time.Second}},
		{name: "503 retry-after date", resp: response(503, ``, "Retry-After", now.Add(time.Minute).Format(http.TimeFormat)),
			wantRE: &ResponseError{StatusCode: 503, RetryAfter: time.Minute}},
		{name: "html error page", resp: response(502, `<html>bad gateway</html>`), wantRE: &ResponseError{StatusCode: 502}},
		{name: "hostile description", resp: response(400, `{"error":"x\ny","error_description":"`+strings.Repeat("d", 1000)+`\u001b[31m"}`),
			wantRE: &ResponseError{StatusCode: 400, Code: "xy", Description: strings.Repeat("d", maxDescription)}},
		{name: "description hiding a control character", resp: response(400, `{"error":"invalid_grant","error_description":"unknown SECRET\u0000-TOKEN-1"}`),
			secrets: []string{"SECRET-TOKEN-1"}, wantRE: &ResponseError{StatusCode: 400, Code: "invalid_grant", Description: "unknown " + redactedText}},
		{name: "short strings are not secrets", resp: response(400, `{"error":"invalid_grant","error_description":"rt1 is unknown"}`),
			secrets: []string{"rt1", ""}, wantRE: &ResponseError{StatusCode: 400, Code: "invalid_grant", Description: "rt1 is unknown"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readTokenResponse(tc.resp, now, tc.secrets)
			switch {
			case tc.wantRE != nil:
				var re *ResponseError
				if !errors.As(err, &re) || *re != *tc.wantRE {
					t.Errorf("got %v, want %+v", err, tc.wantRE)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("got %v, want %v", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case *got != *tc.want:
				t.Errorf("got %+v\nwant %+v", *got, *tc.want)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestReadTokenResponseBodyError(t *testing.T) {
	_, err := ReadTokenResponse(&http.Response{StatusCode: 200, Body: io.NopCloser(failingReader{})})
	if err == nil || errors.Is(err, ErrInvalidResponse) {
		t.Errorf("a broken body must not read as an invalid response: %v", err)
	}
}

// TestReadTokenResponseNil: a nil response is an error, not a panic; a nil
// body reads as an empty one.
func TestReadTokenResponseNil(t *testing.T) {
	if tok, err := ReadTokenResponse(nil); err == nil || tok != nil {
		t.Errorf("ReadTokenResponse(nil) = %v, %v; want an error", tok, err)
	}
	if _, err := ReadTokenResponse(&http.Response{StatusCode: 200}); !errors.Is(err, ErrInvalidResponse) {
		t.Errorf("200 without a body: %v; want ErrInvalidResponse", err)
	}
	var re *ResponseError
	if _, err := ReadTokenResponse(&http.Response{StatusCode: 503}); !errors.As(err, &re) || re.StatusCode != 503 {
		t.Errorf("503 without a body: %v; want a *ResponseError", err)
	}
}

func TestTokenJSON(t *testing.T) {
	exp := time.Date(2030, 1, 1, 0, 5, 0, 0, time.UTC)
	tok := Token{AccessToken: "a", TokenType: "Bearer", RefreshToken: "r", ExpiresIn: 300, Expiry: exp, IdempotencyKey: "k"}
	data, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	var back Token
	if err := json.Unmarshal(data, &back); err != nil || back != tok {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	// A token response decodes into a Token with its expiry filled in.
	before := time.Now()
	var fromWire Token
	if err := json.Unmarshal([]byte(`{"access_token":"a","token_type":"Bearer","expires_in":60,"refresh_token":"r"}`), &fromWire); err != nil {
		t.Fatal(err)
	}
	if fromWire.Expiry.Before(before.Add(time.Minute)) || fromWire.Expiry.After(time.Now().Add(time.Minute)) {
		t.Errorf("expiry %v not 60 s after decoding", fromWire.Expiry)
	}
	if err := json.Unmarshal([]byte(`{"access_token":5}`), &fromWire); err == nil {
		t.Error("bad JSON accepted")
	}
}

func TestTokenNeverPrinted(t *testing.T) {
	tok := Token{AccessToken: "SECRET-ACCESS", RefreshToken: "SECRET-REFRESH", IdempotencyKey: "SECRET-KEY", TokenType: "Bearer"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "tok", tok, "ptr", &tok)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "tok", tok)
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		fmt.Fprintf(&buf, format, tok)
		fmt.Fprintf(&buf, format, &tok)
	}
	if s := buf.String(); strings.Contains(s, "SECRET") {
		t.Errorf("a token leaked: %s", s)
	}
}

func jwtWith(claims string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"HS256"}`)) + "." + enc.EncodeToString([]byte(claims)) + ".sig"
}

func TestJWTTimes(t *testing.T) {
	for _, tc := range []struct {
		at       string
		exp, iat int64
	}{
		{jwtWith(`{"exp":1900000000,"iat":1899999700}`), 1900000000, 1899999700},
		{jwtWith(`{"exp":1900000000.5}`), 1900000000, 0},
		{jwtWith(`{"exp":"1900000000"}`), 0, 0},
		{jwtWith(`{"exp":-1}`), 0, 0},
		{jwtWith(`{"exp":1e300}`), 0, 0},
		{jwtWith(`not json`), 0, 0},
		{"opaque-token", 0, 0},
		{"a.!!!.c", 0, 0},
		{"a.", 0, 0},
	} {
		exp, iat := jwtTimes(tc.at)
		if unix(exp) != tc.exp || unix(iat) != tc.iat {
			t.Errorf("%q: exp %v iat %v, want %d %d", tc.at, exp, iat, tc.exp, tc.iat)
		}
	}
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func FuzzJWTTimes(f *testing.F) {
	f.Add(jwtWith(`{"exp":1900000000,"iat":1899999700}`))
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, at string) {
		exp, iat := jwtTimes(at)
		for _, tm := range []time.Time{exp, iat} {
			if !tm.IsZero() && (tm.Unix() <= 0 || tm.Unix() > 1<<40) {
				t.Fatalf("out of range: %v", tm)
			}
		}
	})
}

// FuzzReadTokenResponse: any body yields a valid token or an error, never a
// panic or an unusable token.
func FuzzReadTokenResponse(f *testing.F) {
	f.Add(200, `{"access_token":"a","token_type":"Bearer","expires_in":300,"refresh_token":"r"}`, "")
	f.Add(400, `{"error":"invalid_grant"}`, "")
	f.Add(503, `{}`, "120")
	f.Fuzz(func(t *testing.T, status int, body, retry string) {
		tok, err := readTokenResponse(response(status, body, "Retry-After", retry), time.Now(), nil)
		if err != nil {
			return
		}
		if status != 200 || tok.validate(true) != nil {
			t.Fatalf("accepted %d %q", status, body)
		}
		req, _ := http.NewRequest("GET", "http://localhost/", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		if err := req.Write(io.Discard); err != nil {
			t.Fatalf("accepted token cannot be sent: %v", err)
		}
	})
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "0": 0, "5": 5 * time.Second, "-5": 0, "x": 0, "99999999": maxRetryAfter,
		now.Add(-time.Minute).Format(http.TimeFormat): 0,
		now.Add(time.Minute).Format(http.TimeFormat):  time.Minute,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}
