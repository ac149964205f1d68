// Package xcryptossh records the golang.org/x/crypto release that the
// patched ssh package below it, and the two internal packages it needs
// (ssh/internal/bcrypt_pbkdf, internal/poly1305), were copied from.
// Everything else of x/crypto comes from the module proxy at the version
// go.mod requires. FORK.md says what the patch does and how to update it.
package xcryptossh

// Upstream is the golang.org/x/crypto release the copy is taken from, and
// the one place it is written. It must equal the x/crypto version go.mod
// requires and the build selects (third_party's tests check both), so a
// bump of x/crypto that does not copy its ssh package in again fails the
// suite instead of leaving the edge on an older ssh package than go.mod
// says.
const Upstream = "v0.59.0"
