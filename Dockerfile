# edgeflush for CI systems that run containers (GitLab CI, Cloud Build, Tekton, ...):
#
#   docker build --build-arg VERSION=v1.2.3 --build-arg COMMIT=$(git rev-parse HEAD) -t edgeflush .
#   docker run --rm -v "$PWD/public:/site:ro" -e AWS_REGION -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY \
#     edgeflush deploy /site --bucket my-site --distribution E2EXAMPLE12345 --wait
#
# The binary is built as release/dist.sh builds it (static, -trimpath, no build id), for
# the target platform of a multi-platform build (docker buildx --platform linux/amd64,linux/arm64).
# The runtime image is distroless static: CA certificates for HTTPS to AWS, no shell, and
# the unprivileged "nonroot" user (uid 65532).

FROM --platform=$BUILDPLATFORM golang:1.26.8 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= -X github.com/edgeflush/edgeflush/internal/cli.version=$VERSION -X github.com/edgeflush/edgeflush/internal/cli.commit=$COMMIT" \
      -o /out/edgeflush ./cmd/edgeflush

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/edgeflush /usr/local/bin/edgeflush
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/edgeflush"]
CMD ["--help"]
