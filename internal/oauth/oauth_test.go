package oauth

import (
	"testing"
	"time"
)

func TestValidDescription(t *testing.T) {
	for s, ok := range map[string]bool{
		"":                             true,
		"the refresh token is invalid": true,
		"mount it with http.StripPrefix(/auth, svc.Handler())": true,
		`a "quoted" path`: false,
		`back\slash`:      false,
		"tab\there":       false,
		"caf\u00e9":       false,
		"del\x7f":         false,
	} {
		if ValidDescription(s) != ok {
			t.Errorf("ValidDescription(%q) = %v", s, !ok)
		}
	}
}

func TestErrorBody(t *testing.T) {
	if got := string(ErrorBody("invalid_grant", "no")); got != `{"error":"invalid_grant","error_description":"no"}` {
		t.Fatal(got)
	}
	for _, bad := range [][2]string{{"", "x"}, {"invalid_request", `say "hi"`}, {"a\"b", "x"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("ErrorBody(%q, %q) did not panic", bad[0], bad[1])
				}
			}()
			ErrorBody(bad[0], bad[1])
		}()
	}
}

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "1", time.Millisecond: "1", time.Second: "1", 1500 * time.Millisecond: "2", time.Minute: "60",
	} {
		if got := RetryAfter(d); got != want {
			t.Errorf("RetryAfter(%v) = %q, want %q", d, got, want)
		}
	}
}
