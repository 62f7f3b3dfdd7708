package redact

import (
	"testing"
	"time"
)

func TestSecret(t *testing.T) {
	if Secret("") != `""` || Secret("abc") != "REDACTED(3 bytes)" {
		t.Fatal(Secret(""), Secret("abc"))
	}
}

func TestTime(t *testing.T) {
	if Time(time.Time{}) != "unset" || Time(time.Unix(0, 0)) != "1970-01-01T00:00:00Z" {
		t.Fatal(Time(time.Time{}), Time(time.Unix(0, 0)))
	}
}
