package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"
)

// NewInvite makes a one-use invite code for account, valid for ttl, and
// stores only its Digest: the API and the dashboard both mint invites
// here. The code is returned once and never kept.
func NewInvite(ctx context.Context, st Store, account string, ttl time.Duration) (code string, expires time.Time, err error) {
	code = randomHex(16)
	expires = time.Now().Add(ttl).UTC().Truncate(time.Second)
	if err := st.CreateInvite(ctx, Invite{Account: account, CodeHash: Digest(code), Expires: expires}); err != nil {
		return "", time.Time{}, err
	}
	return code, expires, nil
}

// NewToken makes an API token for account that manages only that
// account's keys, reservations and tunnels, and stores only its Digest:
// the API and the dashboard both mint tokens here. The token is returned
// once and never kept.
func NewToken(ctx context.Context, st Store, account string) (string, error) {
	tok := "sgt_" + randomHex(24)
	if err := st.CreateToken(ctx, account, Digest(tok)); err != nil {
		return "", err
	}
	return tok, nil
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
