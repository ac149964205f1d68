// Package inspect is the traffic inspector of http tunnels: it keeps the
// last exchanges (request and response heads, bodies up to a bound,
// timings, the middleware's verdict) of each tunnel opened with --inspect
// (the default) in memory, and serves them to the tunnel's owner on a
// system host of the edge (inspect.<domain>) over HTTPS, where an exchange
// can be replayed, unchanged or edited, to the owner's local service.
//
// Memory is bounded three ways: MaxExchanges per tunnel, a per-tunnel byte
// cap (Options.TunnelBytes) and an edge-wide one (Options.EdgeBytes,
// config limits.inspector_bytes); past a cap the oldest exchanges go first,
// and a tunnel's are all freed when it closes. Bodies are teed while they
// stream (a Capture never holds a body back from the upstream or the
// visitor) and kept up to MaxBodyBytes each, marked when truncated.
//
// Secrets are redacted as an exchange is captured, so they never reach
// memory kept here or a page: Authorization, Proxy-Authorization, Cookie,
// Set-Cookie, and every X-Sshgress-* header (the identity headers
// middleware plugins set upstream; the plugin SDK has no per-header
// sensitivity mark, so the whole edge-owned prefix is treated as secret,
// except X-Sshgress-Replay and X-Sshgress-Error, which carry none).
//
// The owner reaches a tunnel's pages through a private link printed in the
// session's banner: /t/TOKEN, with TOKEN 256 random bits. Opening it sets a
// host-only Secure HttpOnly SameSite=Strict cookie holding the token and
// redirects to /i/ID/ (ID is public, the token is not), so the token does
// not stay in the address bar, history or access logs; the banner's link
// works for as long as the tunnel lives. Pages are server-rendered with a
// Content-Security-Policy that forbids every script; the list refreshes
// itself with a meta refresh. Replays are form posts checked with a CSRF
// token derived from the tunnel's token.
package inspect
