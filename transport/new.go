package transport

import (
	"log/slog"
	"net/http"
	"reflect"
)

// New returns a Transport that refreshes tokens at refreshURL (the RFC 6749
// token endpoint) and keeps them in store. refreshURL must be an absolute
// https URL, or http on a loopback host (see WithInsecureHTTP), without
// credentials or a fragment. New does not touch the store: the first
// request loads the token.
//
// New fails on a nil store (also a typed nil), a nil Option, and an option
// value it cannot use. Its errors never repeat a password from a URL.
func New(refreshURL string, store Store, opts ...Option) (*Transport, error) {
	if isNil(store) {
		// A typed nil (a failed constructor's result) would only panic at
		// the first request.
		return nil, configError("the Store is nil (%T); was the error of its constructor ignored?", store)
	}
	c := defaultConfig()
	for i, opt := range opts {
		if opt == nil {
			return nil, configError("option %d of %d is nil", i+1, len(opts))
		}
		if err := opt(&c); err != nil {
			return nil, err
		}
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	if c.base == nil {
		c.base = http.DefaultTransport
	}
	ep, stamp, err := c.endpointAt(refreshURL)
	if err != nil {
		return nil, err
	}
	origins, err := c.originsOf(ep.URL)
	if err != nil {
		return nil, err
	}
	log := c.hooks.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Transport{
		base:            c.base,
		origins:         origins,
		anyUnauthorized: c.anyUnauthorized,
		unauthorized:    c.hooks.Unauthorized,
		retried:         c.hooks.Retried,
		log:             log,
		now:             c.now,
		r:               newRefresher(store, ep, stamp, &c, log),
	}, nil
}

// check refuses values out of range.
func (c *config) check() error {
	switch {
	case c.now == nil:
		return configError("nil clock")
	case c.skew < 0:
		return configError("negative expiry skew %s", c.skew)
	case c.timeout <= 0:
		return configError("refresh timeout %s is not positive", c.timeout)
	}
	return c.retry.check()
}

// endpointAt returns the Endpoint that refreshes at refreshURL, as
// WithEndpoint configured it, and the stamp Token.RefreshURL records.
func (c *config) endpointAt(refreshURL string) (Endpoint, string, error) {
	u, stamp, err := parseEndpoint(refreshURL, c.insecureHTTP)
	if err != nil {
		return Endpoint{}, "", configError("refresh URL: %w", err)
	}
	ep := c.endpoint
	if ep.URL != "" {
		if _, other, err := parseEndpoint(ep.URL, c.insecureHTTP); err != nil || other != stamp {
			return Endpoint{}, "", configError("WithEndpoint names another URL than the refresh URL")
		}
	}
	ep.URL, ep.insecureHTTP, ep.now, ep.target, ep.stamp = u, c.insecureHTTP, c.now, u, stamp
	ep.dpop = newProver(c.dpop, c.now)
	if ep.Transport == nil {
		ep.Transport = c.base
	}
	return ep, stamp, nil
}

// originsOf returns the origins that receive the token: those of
// WithOrigins, else refreshURL's.
func (c *config) originsOf(refreshURL string) ([]origin, error) {
	if !c.originsSet {
		o, _, err := parseOrigin(refreshURL, c.insecureHTTP)
		return []origin{o}, err
	}
	origins := make([]origin, 0, len(c.origins))
	for _, raw := range c.origins {
		o, _, err := parseOrigin(raw, c.insecureHTTP)
		if err != nil {
			return nil, configError("WithOrigins: %w", err)
		}
		origins = append(origins, o)
	}
	return origins, nil
}

// isNil reports whether v is nil or holds a nil pointer, map, slice,
// channel or func: a value whose methods most likely panic.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Chan, reflect.Func, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
