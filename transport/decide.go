package transport

import "errors"

// action is what a refresh does once it has looked at the store.
type action uint8

const (
	// redeem: redeem the refresh token with a new idempotency key.
	redeem action = iota + 1
	// resume: redeem it with the key of a refresh that did not finish,
	// saved in the store or remembered in memory.
	resume
	// adopt: use the tokens the store holds; a peer sharing the store, or
	// a login, put them there.
	adopt
	// keep: the store still holds what the refresh worked from, or older
	// tokens that this Transport redeemed already (a save failed): go on
	// with the refresh's own tokens. Only once the refresh is settled.
	keep
	// giveUp: there is no usable session; the user must log in again.
	giveUp
)

// view is what a refresh knows when it decides: the tokens it works from
// and what the store holds now.
type view struct {
	from Token // the tokens in use, or (settled) those just redeemed
	// stored is what the store holds now; nil when the store refused to
	// give a usable token, and err (which wraps ErrLoginRequired) says why.
	stored *Token
	err    error
	// settled: from has been redeemed (or, loading, is in use), so only
	// adopt, keep and giveUp remain.
	settled     bool
	storedDue   bool // stored's access token is due for a refresh as well
	storedSpent bool // this Transport redeemed stored's refresh token already
	fromSpent   bool // ... and from's
	pending     pendingKey
}

// decision is the outcome of decide.
type decision struct {
	action action
	tok    Token // adopt: the stored tokens; redeem, resume: those to redeem (resume: with their key)
	err    error // giveUp: why, wrapping ErrLoginRequired
}

// decide is the one place where a refresh chooses between the tokens it
// started from and those the store holds now. It is pure: everything it
// needs is in v. Every path that adopts a peer's tokens goes through it.
func decide(v view) decision {
	if v.settled {
		return decideSettled(v)
	}
	if v.err != nil {
		return decision{action: giveUp, err: v.err}
	}
	work := v.from
	switch {
	case v.storedSpent:
		// The store missed this Transport's last save: the tokens in
		// memory are newer. Saving the idempotency key repairs it.
	case !sameTokens(v.stored, &v.from):
		if !v.storedDue {
			return decision{action: adopt, tok: *v.stored}
		}
		work = *v.stored // a peer's tokens, due as well: redeem theirs
	default:
		work = *v.stored // the same tokens, with what the store records
	}
	switch {
	case work.RefreshToken == "":
		return decision{action: giveUp, err: errorf("%w: the session has no refresh token", ErrLoginRequired)}
	case v.fromSpent && work.RefreshToken == v.from.RefreshToken:
		// Only with a store that missed a save and a session read back
		// from it: the newer tokens are gone, and this one is used up.
		return decision{action: giveUp, err: errorf("%w: the stored refresh token was redeemed already", ErrLoginRequired)}
	case work.IdempotencyKey != "":
		return decision{action: resume, tok: work}
	case v.pending.refreshToken == work.RefreshToken && v.pending.key != "":
		work.IdempotencyKey = v.pending.key
		return decision{action: resume, tok: work}
	}
	return decision{action: redeem, tok: work}
}

// decideSettled decides once from is settled: a store that was emptied or
// given another server's session meanwhile ends the session (saving would
// undo that); other tokens in it are adopted; else the refresh goes on.
func decideSettled(v view) decision {
	switch {
	case errors.Is(v.err, ErrNoToken):
		return decision{action: giveUp, err: errorf("%w: the store was cleared meanwhile (%w)", ErrLoginRequired, ErrNoToken)}
	case errors.Is(v.err, ErrForeignToken):
		return decision{action: giveUp, err: errorf("the store was given another server's session meanwhile: %w", v.err)}
	case v.err != nil, v.storedSpent, sameTokens(v.stored, &v.from):
		// A token that cannot be used is replaced by ours.
		return decision{action: keep}
	}
	return decision{action: adopt, tok: *v.stored}
}

func sameTokens(a, b *Token) bool {
	return a.AccessToken == b.AccessToken && a.RefreshToken == b.RefreshToken
}

// pendingKey is the idempotency key of a refresh whose outcome is unknown,
// remembered in memory for when the store could not save it.
type pendingKey struct {
	refreshToken, key string
}
