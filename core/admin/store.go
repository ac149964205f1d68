// Package admin is the edge's management API: JSON over HTTP on its own
// listener (admin.addr), for accounts, their SSH keys and reservations,
// live tunnels and invites. Operators authenticate with the bearer token
// in admin.token_file; per-account tokens reach only their own account.
//
// The API works against the Store and Tunnels interfaces below, so the
// embedded store (core/store) and the SSH server plug in without this
// package importing them. Store errors wrap ErrNotFound, ErrConflict,
// ErrReadOnly or ErrInvalid to pick the status; a usererr message is shown
// to the client, anything else becomes a generic 500 and is logged.
package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// Errors a Store wraps so the API picks the status code.
var (
	// ErrNotFound: no such account, key, tunnel or reservation (404).
	ErrNotFound = errors.New("admin: not found")
	// ErrConflict: the name, key or reservation is taken (409).
	ErrConflict = errors.New("admin: conflict")
	// ErrReadOnly: the account comes from the config file (409).
	ErrReadOnly = errors.New("admin: read-only")
	// ErrInvalid: the request breaks a store rule (400).
	ErrInvalid = errors.New("admin: invalid")
)

// Account is one account as the API shows it.
type Account struct {
	Name string `json:"name"`
	// Source is "config" for a read-only account of the config file,
	// "store" for one created through the API.
	Source       string    `json:"source"`
	Created      time.Time `json:"created,omitzero"`
	Keys         int       `json:"keys"`
	Domains      []string  `json:"domains"`
	TCPAddresses []string  `json:"tcp_addresses"`
}

// Key is one SSH public key of an account.
type Key struct {
	// ID is the store's identifier, used in DELETE …/keys/{id}.
	ID          string `json:"id"`
	Fingerprint string `json:"fingerprint"`
	Type        string `json:"type"`
	// PublicKey is the key as an authorized_keys line without options.
	PublicKey string    `json:"public_key"`
	Label     string    `json:"label"`
	Added     time.Time `json:"added"`
	LastUsed  time.Time `json:"last_used,omitzero"`
}

// Reservation kinds.
const (
	KindDomain = "domain"
	KindTCP    = "tcp_address"
)

// Reservation is a domain or TCP address reserved for an account, already
// normalised (dnsname.Normalize, dnsname.NormalizeHostPort).
type Reservation struct {
	Kind  string
	Value string
}

// Invite lets an unregistered SSH key join Account once, before Expires.
// The store keeps only CodeHash (Digest of the code).
type Invite struct {
	Account  string
	CodeHash string
	Expires  time.Time
}

// Scope is what a token may do: everything (Operator) or only Account's
// own keys, reservations and tunnels.
type Scope struct {
	Operator bool
	Account  string
}

// Store is what the API needs from the account store. Every method is
// safe for concurrent use; names and values are already validated.
type Store interface {
	Accounts(ctx context.Context) ([]Account, error)
	Account(ctx context.Context, name string) (Account, error)
	CreateAccount(ctx context.Context, name string) (Account, error)
	// DeleteAccount removes the account, its keys and reservations and
	// ends its tunnels.
	DeleteAccount(ctx context.Context, name string) error

	Keys(ctx context.Context, account string) ([]Key, error)
	// AddKey stores k (ID empty) and returns it with its ID; a key on
	// any account already is ErrConflict.
	AddKey(ctx context.Context, account string, k Key) (Key, error)
	// DeleteKey removes the key and ends the connections it opened.
	DeleteKey(ctx context.Context, account, id string) error

	// Reserve fails with ErrConflict when another account holds r.
	Reserve(ctx context.Context, account string, r Reservation) error
	Unreserve(ctx context.Context, account string, r Reservation) error

	CreateInvite(ctx context.Context, inv Invite) error
	// CreateToken stores a per-account token by its Digest.
	CreateToken(ctx context.Context, account, tokenHash string) error
	// TokenScope returns the scope of the token whose Digest is
	// tokenHash, or ErrNotFound.
	TokenScope(ctx context.Context, tokenHash string) (Scope, error)
}

// Tunnel is one live tunnel.
type Tunnel struct {
	ID         string    `json:"id"`
	Account    string    `json:"account"`
	Type       string    `json:"type"`
	URL        string    `json:"url"`
	ClientAddr string    `json:"client_addr"`
	Started    time.Time `json:"started"`
	Requests   int64     `json:"requests"`
	BytesIn    int64     `json:"bytes_in"`
	BytesOut   int64     `json:"bytes_out"`
}

// Tunnels is what the API needs from the SSH server's tunnel table.
type Tunnels interface {
	Tunnels(ctx context.Context) []Tunnel
	// EndTunnel closes the tunnel and tells its owner's session reason;
	// an unknown id is ErrNotFound.
	EndTunnel(ctx context.Context, id, reason string) error
}

// Digest is how secrets (tokens, invite codes) are kept: the hex SHA-256
// of the secret. Secrets have 128 bits or more of entropy, so a fast hash
// is enough and a lookup by digest leaks nothing through timing.
func Digest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
