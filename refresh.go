package jwtrefresh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jwtrefresh/jwtrefresh/session"
)

// Login starts a session for a user the application has authenticated
// and returns its first token pair. ns.Claims (a JSON object, optional)
// are copied into every access token of the session; they may not use the
// registered claim names the service sets (iss, sub, aud, exp, nbf, iat,
// jti, sid, cnf). ns.KeyThumbprint, from [Service.DPoPThumbprint], binds
// the session to the client's DPoP key for life; it needs [WithDPoP].
// Errors: session.ErrInvalidInput, session.ErrUnavailable.
func (s *Service) Login(ctx context.Context, ns session.NewSession) (*TokenResponse, error) {
	ns, err := ns.Validate()
	if err != nil {
		return nil, err
	}
	if ns.KeyThumbprint != "" && s.cfg.dpopBase == "" {
		return nil, fmt.Errorf("%w: a DPoP-bound login needs WithDPoP, or its refreshes could never be verified", session.ErrInvalidInput)
	}
	if err := checkClaims(ns.Claims); err != nil {
		return nil, err
	}
	x, err := s.subjectIndex(ctx)
	if err != nil {
		return nil, err
	}
	tok, child, seal := x.NewFamily(ns.Subject)
	res, err := s.store.Create(ctx, tok, child, ns, seal)
	if err != nil {
		return nil, err
	}
	for _, sid := range res.Evicted {
		s.sessions.endSession(ns.Subject, sid)
		s.emit(ctx, Event{Kind: EventEvict, Subject: ns.Subject, SessionID: sid, Revoked: 1})
	}
	sid := tok.SessionID()
	s.emit(ctx, Event{Kind: EventLogin, Subject: ns.Subject, SessionID: sid, Generation: 1})
	return s.respond(tok, ns.Subject, sid, ns.Claims, ns.KeyThumbprint, res.Expires, false)
}

// Refresh redeems a refresh token for a new pair (RFC 6749 §6).
// idempotencyKey is the client's Idempotency-Key ("" for none): a retry of
// the same refresh with the same key, through any instance, gets the same
// new refresh token (and a fresh access token) instead of setting off
// reuse detection. The key must be random (128 bits or more) and new for
// each refresh: a short one, or the one of the previous refresh, is
// session.ErrInvalidInput, and nothing is used up.
//
// keyThumbprint is the thumbprint of the key of the request's DPoP proof,
// verified by [Service.DPoPThumbprint], or "" without one. A session bound
// at login is refreshed only with its key's: otherwise the error wraps
// session.ErrInvalidToken and nothing is used up or revoked, even for a
// used token. For an unbound session it is ignored: a refresh never binds.
//
// Errors: session.ErrInvalidInput (the key), session.ErrInvalidToken
// (unknown, expired, revoked, forged, or a session record that does not
// match its seal), [ErrReuseDetected] (a [*ReuseError]: sessions were
// revoked), [ErrSubjectRefused], [ErrClaimsUnavailable] (nothing was used
// up, retry), session.ErrUnavailable (the outcome is unknown: retry with
// the same key).
func (s *Service) Refresh(ctx context.Context, refreshToken, idempotencyKey, keyThumbprint string) (*TokenResponse, error) {
	tok, err := s.secrets.Parse(refreshToken)
	if err != nil {
		return nil, err
	}
	rot, err := s.secrets.Rotation(tok, idempotencyKey)
	if err != nil {
		return nil, err
	}
	rot.KeyThumbprint = keyThumbprint
	var claims json.RawMessage
	if s.cfg.loader != nil {
		if claims, err = s.loadClaims(ctx, rot); err != nil {
			return nil, err
		}
	}
	res, err := s.store.Rotate(ctx, rot)
	if err != nil {
		return nil, err
	}
	if s.cfg.loader == nil {
		claims = res.Claims
	}
	return s.rotated(ctx, rot, res, claims)
}

// rotated turns the store's answer to a rotation into the token pair or
// the error, with its event.
func (s *Service) rotated(ctx context.Context, rot session.Rotation, res session.Result, claims json.RawMessage) (*TokenResponse, error) {
	sid := rot.Presented.SessionID()
	switch res.Outcome {
	case session.Rotated, session.Healed:
		kind := EventRotate
		if res.Outcome == session.Healed {
			kind = EventHealed
		}
		s.emit(ctx, Event{Kind: kind, Subject: res.Subject, SessionID: sid, Generation: rot.Child.Generation})
		return s.respond(rot.Child, res.Subject, sid, claims, res.KeyThumbprint, res.Expires, false)
	case session.Replayed:
		child := rot.Child
		if res.Version != child.Version {
			// Made under another secret version (secrets changed since):
			// recomputed under that one, byte-identical.
			var err error
			if child, err = s.secrets.Child(rot.Presented, res.Version); err != nil {
				return nil, err
			}
		}
		s.emit(ctx, Event{Kind: EventReplay, Subject: res.Subject, SessionID: sid, Generation: child.Generation})
		return s.respond(child, res.Subject, sid, claims, res.KeyThumbprint, res.Expires, true)
	case session.Reused:
		re := &ReuseError{Subject: res.Subject, SessionID: sid, Policy: res.Policy, Revoked: res.Ended}
		s.forgetReused(re)
		s.emit(ctx, Event{Kind: EventReuseDetected, Subject: res.Subject, SessionID: sid,
			Generation: rot.Presented.Generation, Revoked: res.Ended})
		return nil, re
	}
	return nil, s.refused(ctx, rot, res.Outcome)
}

// refused is the error of an outcome that changed nothing; a tampered
// record is also an event.
func (s *Service) refused(ctx context.Context, rot session.Rotation, out session.Outcome) error {
	switch out {
	case session.KeyRepeated:
		return errKeyRepeated
	case session.Tampered:
		s.emit(ctx, Event{Kind: EventTampered, SessionID: rot.Presented.SessionID(), Generation: rot.Presented.Generation})
		return errTampered
	case session.WrongProofKey:
		s.emit(ctx, Event{Kind: EventDPoPRefused, SessionID: rot.Presented.SessionID(), Generation: rot.Presented.Generation})
		return errWrongProofKey
	}
	return fmt.Errorf("%w: unknown, expired or revoked session", session.ErrInvalidToken)
}

// loadClaims runs the claims loader for the session of rot, before the
// token is used up: a loader failure then costs the client nothing,
// while after a rotation its retry without an Idempotency-Key would
// present a used token (reuse: every session revoked).
func (s *Service) loadClaims(ctx context.Context, rot session.Rotation) (json.RawMessage, error) {
	res, err := s.store.Lookup(ctx, rot)
	if err != nil {
		return nil, err
	}
	if res.Outcome != session.Found {
		return nil, s.refused(ctx, rot, res.Outcome)
	}
	sid := rot.Presented.SessionID()
	claims, err := s.cfg.loader(ctx, res.Subject, sid, res.Claims)
	switch {
	case errors.Is(err, ErrSubjectRefused):
		if rerr := s.RevokeSession(ctx, res.Subject, sid); rerr != nil && !errors.Is(rerr, session.ErrNotFound) {
			return nil, rerr // not revoked yet: the client retries and is refused again
		}
		return nil, fmt.Errorf("jwtrefresh: refresh refused by the claims loader: %w", err)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrClaimsUnavailable, err)
	}
	if err := checkLoaded(claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// forgetReused makes the session check refuse at once the sessions a
// reuse detection revoked.
func (s *Service) forgetReused(re *ReuseError) {
	if re.Policy == session.RevokeSubject {
		s.sessions.endSubject(re.Subject)
		return
	}
	s.sessions.endSession(re.Subject, re.SessionID)
}

// checkLoaded verifies what a claims loader returned. Bad claims are the
// application's bug, not the client's: an internal error.
func checkLoaded(claims []byte) error {
	if _, err := (session.NewSession{Subject: "-", Claims: claims}).Validate(); err != nil {
		return fmt.Errorf("jwtrefresh: claims loader: %v", err)
	}
	if err := checkClaims(claims); err != nil {
		return fmt.Errorf("jwtrefresh: claims loader: %v", err)
	}
	return nil
}

// respond encodes the refresh token tok and mints the matching access
// token, bound to the DPoP key jkt unless it is "".
func (s *Service) respond(tok session.Token, subject, sid string, claims []byte, jkt string, refreshExpiry time.Time, replayed bool) (*TokenResponse, error) {
	rt, err := s.secrets.Encode(tok)
	if err != nil {
		return nil, err
	}
	at, exp, err := s.accessToken(subject, sid, claims, jkt, s.cfg.now())
	if err != nil {
		return nil, err
	}
	typ := tokenTypeBearer
	if jkt != "" {
		typ = tokenTypeDPoP
	}
	return &TokenResponse{
		AccessToken:   at,
		TokenType:     typ,
		ExpiresIn:     int64(s.cfg.accessTTL / time.Second),
		RefreshToken:  rt,
		Subject:       subject,
		SessionID:     sid,
		Expiry:        exp,
		RefreshExpiry: refreshExpiry,
		Replayed:      replayed,
	}, nil
}
