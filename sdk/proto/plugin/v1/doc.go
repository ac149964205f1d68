// Package pluginv1 is the generated Go code for the sshgress plugin contract,
// proto package sshgress.plugin.v1 (plugin.proto beside this file).
//
// Plugin authors normally use package sdk instead, which wraps these types.
// Regenerate with `make generate` from the repository root after editing
// plugin.proto; changes within v1 must be additive only.
package pluginv1

//go:generate protoc -I . --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative plugin.proto
