// Package policy holds the repository's rules as tests, in one place: the
// import arrows between cmd/, core/, sdk/ and plugins/ and inside core/
// (layering_test.go), a doc comment on every package (docs_test.go), the
// core naming no plugin (pluginnames_test.go) and the lowest releases of
// security-relevant modules the edge binary may contain
// (securityfloors_test.go).
//
// These tests check the repository, not one package's logic: unit tests
// stay beside their code and the end-to-end suites live in e2e/. Each rule
// says next to it why it exists, and each failure says what to do. Run
// them with `go test ./policy/`; they need Go and no OpenSSH.
package policy
