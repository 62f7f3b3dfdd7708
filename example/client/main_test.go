package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	env := func(k string) string { return map[string]string{"SERVER_URL": "http://127.0.0.1:9"}[k] }
	cfg, err := parseFlags(nil, env, io.Discard)
	if err != nil || cfg.server != "http://127.0.0.1:9" || cfg.user != "alice" || cfg.workers != 8 ||
		cfg.duration != 10*time.Second || cfg.interval != 20*time.Millisecond {
		t.Errorf("defaults with SERVER_URL: %+v, %v", cfg, err)
	}
	cfg, err = parseFlags([]string{"-server", "http://h:1", "-workers", "3"}, env, io.Discard)
	if err != nil || cfg.server != "http://h:1" || cfg.workers != 3 {
		t.Errorf("flags: %+v, %v", cfg, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-workers", "0"}, "want 1 to 1000"},
		{[]string{"-duration", "0s"}, "positive"},
		{[]string{"-interval", "-1ms"}, "negative"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-duration", "soon"}, "invalid value"},
	} {
		if _, err := parseFlags(tc.args, env, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%v) = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

// TestLoginFailureExits1: a failed login (here: nothing listens) is exit
// status 1 with a message, and no summary line.
func TestLoginFailureExits1(t *testing.T) {
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"-server", "http://127.0.0.1:1", "-duration", "1s"},
		func(string) string { return "" }, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "client:") || strings.Contains(stdout.String(), "requests=") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}
