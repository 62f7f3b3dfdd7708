// Package redact shows credentials in printed and logged values: only
// their length.
package redact

import (
	"strconv"
	"time"
)

// Secret is s as it may be printed or logged: `""` when empty, else
// "REDACTED(n bytes)".
func Secret(s string) string {
	if s == "" {
		return `""`
	}
	return "REDACTED(" + strconv.Itoa(len(s)) + " bytes)"
}

// Time is t in RFC 3339 (UTC), or "unset" for the zero time: the dates
// printed beside redacted credentials.
func Time(t time.Time) string {
	if t.IsZero() {
		return "unset"
	}
	return t.UTC().Format(time.RFC3339)
}
