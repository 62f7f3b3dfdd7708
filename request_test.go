package jwtrefresh

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/jwtrefresh/jwtrefresh/session"
)

// FuzzReadParams feeds the token request parser arbitrary bodies, content
// types and headers. It must never panic, refuse only with the statuses
// the endpoints document, and return exactly what the body says.
func FuzzReadParams(f *testing.F) {
	f.Add(contentForm, "grant_type=refresh_token&refresh_token=jwtrt1_abc", "", "", "")
	f.Add(contentForm+"; charset=utf-8", "grant_type=refresh_token&refresh_token=a&client_id=c", "Basic Og==", "key-1", "")
	f.Add(contentForm, "grant_type=refresh_token&refresh_token=a", "", "0123456789abcdef", "")
	f.Add(contentJSON, `{"refresh_token":"jwtrt1_abc","grant_type":"refresh_token"}`, "", `"quoted"`, "")
	f.Add(contentJSON, `{"token":"a","token_type_hint":"refresh_token","x":[1,{"y":null}]}`, "Bearer x", "", "a=b")
	f.Add(contentForm, "refresh_token=a&refresh_token=b", "Basic Y2xpOg==", "", "refresh_token=x")
	f.Add(contentJSON, `{"refresh_token":"a","refresh_token":"a"}`, "Basic Y2xpOnM=", "", "")
	f.Add("text/plain", "%zz", "basic !!", "\x00", ";;")
	f.Fuzz(func(t *testing.T, contentType, body, authz, idem, query string) {
		// The form decoder accepts exactly what net/url does.
		var fp params
		_, fe := fp.decodeForm([]byte(body))
		if _, err := url.ParseQuery(body); fe != respRepeatedParam && (err != nil) != (fe != nil) {
			t.Fatalf("decodeForm: %v, url.ParseQuery: %v", fe, err)
		}

		r := httptest.NewRequest(http.MethodPost, "/refresh", strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", contentType)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if idem != "" {
			r.Header.Set("Idempotency-Key", idem)
		}
		p, e := readParams(httptest.NewRecorder(), r, defaultMaxBody)
		if e != nil {
			switch e.status {
			case 400, 401, 413, 415:
			default:
				t.Fatalf("status %d", e.status)
			}
			return
		}
		// The key is passed on as sent (the refresh checks it, once).
		if p.idempotencyKey != idem {
			t.Fatalf("idempotency key %q from header %q", p.idempotencyKey, idem)
		}
		// What was read is what the body holds.
		want := map[string]string{}
		if p.json {
			var m map[string]any
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				t.Fatalf("accepted JSON that encoding/json refuses: %v", err)
			}
			for k, v := range m {
				if s, ok := v.(string); ok {
					want[k] = s
				}
			}
		} else {
			q, err := url.ParseQuery(body)
			if err != nil {
				t.Fatalf("accepted a form that net/url refuses: %v", err)
			}
			for k, vs := range q {
				for _, v := range vs {
					if v != "" {
						if _, dup := want[k]; dup && isParam(k) {
							t.Fatalf("accepted %q twice", k)
						}
						want[k] = v
					}
				}
			}
		}
		got := map[string]string{
			"grant_type": p.grantType, "refresh_token": p.refreshToken, "token": p.token,
			"token_type_hint": p.tokenTypeHint,
		}
		for k, v := range got {
			if want[k] != v {
				t.Fatalf("%s = %q, body says %q", k, v, want[k])
			}
		}
		if want["client_secret"] != "" {
			t.Fatal("accepted a client secret")
		}
	})
}

func isParam(name string) bool {
	switch name {
	case "grant_type", "refresh_token", "token", "token_type_hint", "client_id":
		return true
	}
	return false
}

// The hand-written encoder of the token response agrees with the struct
// tags that document it.
func TestTokenResponseJSON(t *testing.T) {
	for _, tr := range []TokenResponse{
		{AccessToken: "a.b.c", TokenType: tokenTypeBearer, ExpiresIn: 300, RefreshToken: session.TokenPrefix + "x_-y",
			Subject: "alice", SessionID: "s", Replayed: true},
		{AccessToken: "a\"\\\u2028<é", TokenType: "Bearer", ExpiresIn: 1},
	} {
		want, err := json.Marshal(&tr)
		if err != nil {
			t.Fatal(err)
		}
		if got := tr.appendJSON(nil, true); string(got) != string(want) {
			t.Errorf("appendJSON = %s\njson.Marshal = %s", got, want)
		}
	}
	tr := TokenResponse{AccessToken: "a", TokenType: "Bearer", ExpiresIn: 5, RefreshToken: "r"}
	if got := string(tr.appendJSON(nil, false)); got != `{"access_token":"a","token_type":"Bearer","expires_in":5}` {
		t.Errorf("without the refresh token: %s", got)
	}
}
