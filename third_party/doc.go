// Package thirdparty holds the tests that keep the patched copies under
// third_party honest: xcryptossh is x/crypto's ssh package (and the two
// internal packages it needs) at the x/crypto release go.mod requires,
// byte for byte except the patch FORK.md lists.
package thirdparty
