package redisstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jwtrefresh/jwtrefresh/session"
)

// errReply reports a script reply of an unexpected shape: a script of
// another version under the same key prefix, or a record written by
// something else. The outcome is unknown, so it is unavailability.
var errReply = errors.New("redisstore: unexpected script reply")

func malformed(what string, v any) error {
	return fmt.Errorf("%w: %w: %s %#v", session.ErrUnavailable, errReply, what, v)
}

// replyShape is the number of elements of each outcome's reply.
var replyShape = [...]int{
	outInvalid: 1, outRotated: 3, outReplayed: 4, outReused: 3,
	outRepeated: 1, outTampered: 1, outFound: 2, outHealed: 3, outWrongKey: 1,
}

// decodeOutcome turns the reply of the rotation or lookup script into a
// Result. Every element is checked; a reply of any other shape is an
// error wrapping session.ErrUnavailable.
func decodeOutcome(v any) (session.Result, error) {
	a, ok := v.([]any)
	if !ok || len(a) == 0 {
		return session.Result{}, malformed("rotation reply", v)
	}
	out, ok := a[0].(int64)
	if !ok || out < 0 || out >= int64(len(replyShape)) || len(a) != replyShape[out] {
		return session.Result{}, malformed("rotation reply", v)
	}
	r := session.Result{Outcome: session.Outcome(out)}
	var sc string
	var err error
	switch out {
	case outRotated, outReplayed, outHealed:
		var exp int64
		exp, sc, err = msAndString(a[1], a[2])
		r.Expires = time.UnixMilli(exp)
		if out == outReplayed && err == nil {
			var kv int64
			if kv, ok = a[3].(int64); !ok || kv < 0 || kv > 1<<32-1 {
				return session.Result{}, malformed("secret version", a[3])
			}
			r.Version = uint32(kv)
		}
	case outReused:
		var n int64
		n, sc, err = msAndString(a[2], a[1])
		r.Ended = int(n)
	case outFound:
		sc, ok = a[1].(string)
		if !ok {
			err = malformed("record", a[1])
		}
	}
	if err != nil {
		return session.Result{}, err
	}
	if sc != "" {
		if r.Subject, r.KeyThumbprint, r.Claims, ok = splitRecord(sc); !ok {
			return session.Result{}, malformed("record", sc)
		}
	}
	return r, nil
}

// msAndString reads a number and a string element.
func msAndString(n, s any) (int64, string, error) {
	num, ok1 := n.(int64)
	str, ok2 := s.(string)
	if !ok1 || !ok2 {
		return 0, "", malformed("reply elements", []any{n, s})
	}
	return num, str, nil
}

// record is the "sc" field: the subject's length in decimal, a colon, the
// subject, "#" and the DPoP key thumbprint (43 characters) for a bound
// session, and the claims, read back in one piece by every rotation and
// covered by the seal (session.SealKey.Seal).
func record(subject, keyThumbprint string, claims []byte) []byte {
	b := strconv.AppendInt(make([]byte, 0, 65+len(subject)+len(claims)), int64(len(subject)), 10)
	b = append(append(b, ':'), subject...)
	if keyThumbprint != "" {
		b = append(append(b, '#'), keyThumbprint...)
	}
	return append(b, claims...)
}

// recordPrefix is what a record of subject starts with.
func recordPrefix(subject string) string {
	return strconv.Itoa(len(subject)) + ":" + subject
}

// splitRecord undoes record; ok is false for anything else.
func splitRecord(sc string) (subject, keyThumbprint string, claims json.RawMessage, ok bool) {
	n, rest, found := strings.Cut(sc, ":")
	l, err := strconv.Atoi(n)
	if !found || err != nil || l < 0 || l > len(rest) {
		return "", "", nil, false
	}
	subject, rest = rest[:l], rest[l:]
	if strings.HasPrefix(rest, "#") {
		if len(rest) < 1+thumbprintLen {
			return "", "", nil, false
		}
		keyThumbprint, rest = rest[1:1+thumbprintLen], rest[1+thumbprintLen:]
	}
	if rest != "" {
		claims = json.RawMessage(rest)
	}
	return subject, keyThumbprint, claims, true
}

// thumbprintLen is the length of a DPoP key thumbprint in a record.
const thumbprintLen = 43

// decodeSessions turns the reply of the sessions script into Infos.
func decodeSessions(v any, out []session.Info) ([]session.Info, error) {
	rows, ok := v.([]any)
	if !ok {
		return nil, malformed("sessions reply", v)
	}
	for _, row := range rows {
		f, ok := row.([]any)
		if !ok || len(f) != 6 {
			return nil, malformed("session", row)
		}
		id, ok1 := f[0].(string)
		ct, ok2 := f[1].(int64)
		lu, ok3 := f[2].(int64)
		exp, ok4 := f[3].(int64)
		gen, ok5 := f[4].(int64)
		ci, ok6 := f[5].(string)
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || gen < 1 {
			return nil, malformed("session", row)
		}
		in := session.Info{ID: id, Created: time.UnixMilli(ct), LastUsed: time.UnixMilli(lu),
			Expires: time.UnixMilli(exp), Generation: uint64(gen)}
		if ci != "" && json.Unmarshal([]byte(ci), &in.Client) != nil {
			return nil, malformed("client info", ci)
		}
		out = append(out, in)
	}
	return out, nil
}
