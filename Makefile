# Makefile: helper targets. `make generate` regenerates committed code.

PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
GOBIN := $(shell go env GOPATH)/bin

.PHONY: generate
# generate regenerates sdk/proto/plugin/v1 from plugin.proto. It needs protoc
# on PATH and installs the pinned code generators into $(GOBIN) (never into
# go.mod).
generate:
	go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	cd sdk/proto/plugin/v1 && PATH="$(GOBIN):$$PATH" go generate ./...
