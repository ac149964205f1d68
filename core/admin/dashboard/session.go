package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"sync"
	"time"
)

// session is one signed-in browser, held on the server; the cookie carries
// only its random id.
type session struct {
	account  string
	operator bool
	csrf     string // the token every POST of this session must carry
	flash    string // a message for the next page; guarded by sessions.mu
	expires  time.Time
}

// sessions holds the live sessions and the unused one-time links, both
// keyed by the SHA-256 of their secret (a memory dump shows no usable
// cookie or link), both bounded.
type sessions struct {
	mu       sync.Mutex
	now      func() time.Time
	ttl      time.Duration
	max      int
	byID     map[[32]byte]*session
	links    map[[32]byte]pendingLink
	maxLinks int
}

// pendingLink is a one-time link not used yet.
type pendingLink struct {
	account string
	expires time.Time
}

// errFull is returned when the session or link table is full of live
// entries (a flood): nothing is evicted early.
var errFull = errors.New("dashboard: too many sessions or pending sign-in links; try again later")

func newSessions(now func() time.Time, ttl time.Duration, max int) *sessions {
	return &sessions{now: now, ttl: ttl, max: max, maxLinks: max,
		byID: make(map[[32]byte]*session), links: make(map[[32]byte]pendingLink)}
}

// secret returns 32 random bytes, URL-safe base64.
func secret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashOf(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// sweep drops expired entries; s.mu held.
func (s *sessions) sweep(now time.Time) {
	for k, v := range s.byID {
		if !now.Before(v.expires) {
			delete(s.byID, k)
		}
	}
	for k, v := range s.links {
		if !now.Before(v.expires) {
			delete(s.links, k)
		}
	}
}

// create starts a session and returns its cookie value.
func (s *sessions) create(account string, operator bool) (string, *session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.byID) >= s.max {
		s.sweep(now)
		if len(s.byID) >= s.max {
			return "", nil, errFull
		}
	}
	id := secret()
	sess := &session{account: account, operator: operator, csrf: secret(), expires: now.Add(s.ttl)}
	s.byID[hashOf(id)] = sess
	return id, sess, nil
}

// lookup returns the live session of a cookie value.
func (s *sessions) lookup(id string) (*session, bool) {
	if id == "" {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := hashOf(id)
	sess, ok := s.byID[k]
	if !ok {
		return nil, false
	}
	if !s.now().Before(sess.expires) {
		delete(s.byID, k)
		return nil, false
	}
	return sess, true
}

// end removes a session.
func (s *sessions) end(id string) {
	s.mu.Lock()
	delete(s.byID, hashOf(id))
	s.mu.Unlock()
}

// mintLink records a one-time link secret for account, valid for ttl.
func (s *sessions) mintLink(account string, ttl time.Duration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.links) >= s.maxLinks {
		s.sweep(now)
		if len(s.links) >= s.maxLinks {
			return "", errFull
		}
	}
	tok := secret()
	s.links[hashOf(tok)] = pendingLink{account: account, expires: now.Add(ttl)}
	return tok, nil
}

// useLink consumes a one-time link secret: it works once, before it
// expires; a second use, an expired or an unknown secret all fail alike.
func (s *sessions) useLink(tok string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := hashOf(tok)
	l, ok := s.links[k]
	delete(s.links, k)
	if !ok || !s.now().Before(l.expires) {
		return "", false
	}
	return l.account, true
}

// csrfOK reports whether a form's token is its session's, in constant time.
func (sess *session) csrfOK(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(sess.csrf)) == 1
}

// setFlash keeps one message for the session's next page (after a redirect).
func (s *sessions) setFlash(sess *session, msg string) {
	s.mu.Lock()
	sess.flash = msg
	s.mu.Unlock()
}

// takeFlash returns and clears the session's message.
func (s *sessions) takeFlash(sess *session) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := sess.flash
	sess.flash = ""
	return msg
}
