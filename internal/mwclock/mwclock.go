// Package mwclock sets the clock of a middleware.Middleware from the other
// packages of this module, which the middleware offers no option for: the
// token service's own middleware follows the service's clock, and tests
// move time without sleeping.
package mwclock

import "time"

// Option is set by package middleware when it is initialised. It returns a
// middleware.Option (typed any, since this package cannot import
// middleware) that makes the middleware read the time from now; a nil now
// makes middleware.New fail.
var Option func(now func() time.Time) any
