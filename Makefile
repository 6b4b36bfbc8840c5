# The two set-up commands: `make demo` runs a pipeline job through the real Lambda bootstrap
# against local emulators; `make test` runs every test. Neither talks to AWS.
GO      ?= go
GOBIN   := $(shell $(GO) env GOPATH)/bin
RIE     := $(GOBIN)/aws-lambda-rie
RIE_PKG := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d
# actionlint, pinned, run through the module proxy (no tool dependency in go.mod). Given
# a workflow that uses the action at the root (uses: ./), it checks action.yml too.
ACTIONLINT := github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
export PATH := $(GOBIN):$(PATH)

.PHONY: demo test lint tools lambda-zip bench dist dist-check

tools: $(RIE)
$(RIE):
	$(GO) install $(RIE_PKG)

demo: tools
	$(GO) run ./cmd/edgeflush-demo

test: tools lint
	$(GO) test -count=1 ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	cfn-lint deploy/*.yaml
	$(GO) run $(ACTIONLINT) .github/workflows/*.yml docs/examples/*.yml

# The Lambda package for provided.al2023 on arm64 (set GOARCH=amd64 for x86_64).
GOARCH ?= arm64
lambda-zip:
	mkdir -p dist
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o dist/bootstrap ./cmd/edgeflush-lambda
	cd dist && rm -f edgeflush-lambda.zip && zip -q edgeflush-lambda.zip bootstrap

# Every release artifact, reproducibly, into dist/release: the CLI for linux/darwin/windows
# on amd64/arm64, the Lambda zips for arm64 and x86_64, shell completions, SHA256SUMS.
# VERSION and COMMIT default to git describe / git rev-parse HEAD.
dist:
	GO=$(GO) VERSION="$(VERSION)" COMMIT="$(COMMIT)" release/dist.sh

# Builds the release twice (here and from a copy at another path) and compares the sums.
dist-check:
	GO=$(GO) VERSION="$(VERSION)" COMMIT="$(COMMIT)" release/reproducible.sh
