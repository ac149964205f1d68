package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"sync"
	"time"
)

const (
	// maxUsedTickets bounds the remembered ticket IDs; each is kept until
	// its ticket expires (TicketTTL).
	maxUsedTickets = 100_000
	// maxPending bounds the code redemptions in flight.
	maxPending = 1024
	// pendingTTL is how long a finished redemption waits for its browser.
	pendingTTL = 2 * time.Minute
	// defaultWait is how long a request waits for background work when its
	// context has no deadline.
	defaultWait = 2 * time.Second
)

var (
	errBusy         = errors.New("oauth: too many sign-ins in progress")
	errCodeMismatch = errors.New("oauth: the callback's code differs from the one being redeemed")
)

// loginState is the plugin's in-memory sign-in state: used ticket IDs and
// code redemptions in flight. Losing it (a restart) loses nothing but the
// replay protection of tickets younger than TicketTTL.
type loginState struct {
	mu      sync.Mutex
	used    map[string]time.Time // ticket ID -> expiry
	pending map[string]*redemption
}

// redemption is one code being redeemed in the background.
type redemption struct {
	code    [sha256.Size]byte
	started time.Time
	done    chan struct{} // closed when id and err are set
	id      identity
	err     error
}

func newLoginState() *loginState {
	return &loginState{used: map[string]time.Time{}, pending: map[string]*redemption{}}
}

// useTicket records a ticket ID as used. It reports false if the ID was
// used before, and errBusy if the set is full of unexpired IDs.
func (l *loginState) useTicket(id string, expires, now time.Time) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if exp, ok := l.used[id]; ok && now.Before(exp) {
		return false, nil
	}
	if len(l.used) >= maxUsedTickets {
		for k, exp := range l.used {
			if !now.Before(exp) {
				delete(l.used, k)
			}
		}
		if len(l.used) >= maxUsedTickets {
			return false, errBusy
		}
	}
	l.used[id] = expires
	return true, nil
}

// redeem returns the redemption for key (a state), starting run in the
// background if there is none. A second call with another code fails.
func (l *loginState) redeem(key, code string, now time.Time, run func(context.Context) (identity, error)) (*redemption, error) {
	sum := sha256.Sum256([]byte(code))
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.pending[key]; ok {
		if subtle.ConstantTimeCompare(r.code[:], sum[:]) != 1 {
			return nil, errCodeMismatch
		}
		return r, nil
	}
	if len(l.pending) >= maxPending {
		for k, r := range l.pending {
			if now.Sub(r.started) > pendingTTL {
				delete(l.pending, k)
			}
		}
		if len(l.pending) >= maxPending {
			return nil, errBusy
		}
	}
	r := &redemption{code: sum, started: now, done: make(chan struct{})}
	l.pending[key] = r
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), exchangeTimeout)
		defer cancel()
		r.id, r.err = run(ctx)
		close(r.done)
	}()
	return r, nil
}

// forget drops the redemption for key.
func (l *loginState) forget(key string) {
	l.mu.Lock()
	delete(l.pending, key)
	l.mu.Unlock()
}

// waitFor waits until done is closed or most of ctx's deadline has passed,
// leaving time to answer before the edge gives up (a fifth of the time
// left, at least 30 ms). It reports whether done was closed.
func waitFor(ctx context.Context, done <-chan struct{}) bool {
	wait := defaultWait
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		wait = left - max(left/5, 30*time.Millisecond)
	}
	if wait <= 0 {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// randToken returns n random bytes in unpadded URL-safe base64.
func randToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// bindHash is the digest of a login cookie value that tickets carry.
func bindHash(v string) string {
	sum := sha256.Sum256([]byte("sshgress oauth login " + v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// isToken reports whether s looks like randToken(16) output.
func isToken(s string) bool {
	if len(s) != 22 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
