// Package jwtrefresh keeps users logged in safely: short-lived JWT access
// tokens, one-time-use rotating refresh tokens, and reuse detection that
// revokes sessions when a used refresh token is presented again.
package jwtrefresh
