// Package sdk is everything a plugin author imports to extend sshgress: the
// flag and manifest types, the Go interfaces a plugin implements, the gRPC
// contract they travel over, and the Serve helper that runs a plugin.
package sdk
