package dashboard

import (
	"time"

	"github.com/sshgress/sshgress/core/admin"
)

// Backend is what the dashboard reads and changes: accounts, their keys,
// reservations and live tunnels, and invites. Errors that a user should
// read are usererr errors (their sentence is shown as is); ErrNotFound
// means the thing does not exist for that account; anything else is shown
// as a generic failure and logged.
type Backend interface {
	// Accounts lists every account, stored and from the config file.
	Accounts() ([]Account, error)
	// Account returns one account, or ErrNotFound.
	Account(name string) (Account, error)
	// Keys lists an account's SSH keys.
	Keys(account string) ([]Key, error)
	// AddKey adds an authorized_keys line with a label to an account. A
	// malformed or weak key, or one already on an account, is a usererr.
	AddKey(account, authorizedKey, label string) (Key, error)
	// DeleteKey removes the key id of account; ErrNotFound when account
	// has no such key (whoever else holds it).
	DeleteKey(account, id string) error
	// Tunnels lists the live tunnels of account, or of every account
	// when account is "".
	Tunnels(account string) ([]Tunnel, error)
	// CloseTunnel ends the tunnel id of account (any account when account
	// is ""); ErrNotFound when it is not one of account's.
	CloseTunnel(account, id string) error
	// CreateInvite makes a one-use invite to account, valid for ttl, and
	// returns its code.
	CreateInvite(account string, ttl time.Duration) (string, error)
	// CreateToken makes a management API token for account that manages
	// only that account, and returns it.
	CreateToken(account string) (string, error)
}

// ErrNotFound is what a Backend returns for an account, key or tunnel that
// does not exist (for that account): the management API's sentinel, so a
// store's errors mean the same to both.
var ErrNotFound = admin.ErrNotFound

// Account is one account as the dashboard shows it.
type Account struct {
	// Name is the account's name.
	Name string
	// FromConfig is set for accounts from the config file, which the
	// dashboard cannot change.
	FromConfig bool
	// Domains and TCPAddresses are the names the account reserves.
	Domains      []string
	TCPAddresses []string
}

// Key is one SSH public key of an account.
type Key struct {
	// ID identifies the key within the backend.
	ID string
	// Type is the key's algorithm, e.g. "ssh-ed25519".
	Type string
	// Fingerprint is the SHA256 fingerprint ("SHA256:…").
	Fingerprint string
	// Label is the user's name for the key.
	Label string
	// Added is when the key was added; zero for config keys.
	Added time.Time
	// LastUsed is when the key last signed in; zero for never.
	LastUsed time.Time
	// FromConfig is set for keys from the config file (not deletable).
	FromConfig bool
}

// Tunnel is one live tunnel.
type Tunnel struct {
	ID         string
	Account    string
	Type       string
	URL        string
	ClientAddr string
	Started    time.Time
	// Requests are visitor requests (HTTP) or connections (TCP, TLS);
	// BytesIn went to the user's service, BytesOut came from it.
	Requests, BytesIn, BytesOut int64
}
