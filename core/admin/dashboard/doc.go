// Package dashboard is the self-service web dashboard of the edge: users
// sign in with a one-time link (from `ssh … login`) or through the OAuth
// middleware plugin the operator configured, then manage their own SSH
// keys, see their reserved names and live tunnels (and kill them), and copy
// ready-made ssh commands; operators also see every account and tunnel and
// create invites.
//
// Pages are server-rendered html/template with no script at all, so the
// Content-Security-Policy forbids every script and inline style. Sessions
// live on the server (the cookie holds only a random id), each POST carries
// a CSRF token tied to its session, cookies are __Host- prefixed, Secure,
// HttpOnly and SameSite=Lax, and a one-time link's secret is exchanged on
// its first request for a session and a redirect to a clean URL, so it is
// dead before it can linger in history or a log.
//
// What the dashboard reads and changes goes through Backend, the same seam
// the management API uses; the dashboard holds no account data itself.
package dashboard
