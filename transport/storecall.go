package transport

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// storeCalls runs a refresher's calls into its Store one at a time, each
// for at most as long as its context lasts. A Store should return when ctx
// is done; a call that does not is reported as failed and left to finish
// in its own goroutine, which holds busy until it returns. So store calls
// stay in order (the next one waits for it, within its own deadline), and
// a refresh releases the store's lock only after it (see unlockAfter): a
// late save never overwrites a later one.
type storeCalls struct {
	busy  chan struct{} // capacity 1: held while a call runs
	guard func(what string, f func() error) error
}

// run runs f, a call into the Store.
func (c *storeCalls) run(ctx context.Context, f func(context.Context) error) error {
	// Checked first: select picks at random among ready cases, so an ended
	// ctx would otherwise sometimes call the store anyway, and sometimes
	// blame an earlier call that does not exist.
	if err := ctx.Err(); err != nil {
		return errorf("transport: %w", context.Cause(ctx))
	}
	select {
	case c.busy <- struct{}{}:
	case <-ctx.Done():
		return errorf("transport: the token store has not returned from an earlier call: %w", context.Cause(ctx))
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-c.busy }()
		done <- c.guard("calling the token store", func() error { return f(ctx) })
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		select {
		case err := <-done:
			return err
		default:
			return errorf("transport: the token store did not answer in time: %w", context.Cause(ctx))
		}
	}
}

// unlockAfter releases the store's lock once no store call runs.
func (c *storeCalls) unlockAfter(unlock func()) {
	select {
	case c.busy <- struct{}{}:
		<-c.busy
		unlock()
	default:
		// A call is still running (or about to finish): release the
		// lock when it returns. The goroutine ends with that call.
		go func() {
			c.busy <- struct{}{}
			<-c.busy
			// Nobody waits for this goroutine: a panic is only logged.
			_ = c.guard("releasing the token store's lock", func() error { unlock(); return nil })
		}()
	}
}

// flight runs f once for all the callers with the same key, on a goroutine
// singleflight owns, and waits for its result at most until ctx is done. A
// panic in f is recovered there and returned to every caller as an error
// wrapping ErrPanic: singleflight would re-panic it on a goroutine of its
// own, where nobody could recover it, and the process would die.
func (r *refresher) flight(ctx context.Context, key, what string, f func() (*session, error)) (*session, error) {
	ch := r.group.DoChan(key, func() (any, error) {
		var s *session
		err := r.guard(what, func() (err error) {
			s, err = f()
			return err
		})
		return s, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*session), nil
	case <-ctx.Done():
		return nil, errorf("transport: waiting for tokens: %w", context.Cause(ctx))
	}
}

// guard runs f, turning a panic into an error wrapping ErrPanic (and the
// panic value, if it is an error) that names what was being done. The
// stack is logged; the panic value only when the runtime made it, since a
// Store's own panic might quote a token.
func (r *refresher) guard(what string, f func() error) (err error) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		shown := fmt.Sprintf("a %T", p)
		if re, ok := p.(runtime.Error); ok {
			shown = re.Error()
		}
		r.log.Error("transport: recovered a panic", "while", what, "panic", shown, "stack", string(debug.Stack()))
		if perr, ok := p.(error); ok {
			err = errorf("%w while %s: %w", ErrPanic, what, perr)
		} else {
			err = errorf("%w while %s: %v", ErrPanic, what, p)
		}
	}()
	return f()
}
