# The gatehouse binary in an image of its own: built static (no cgo), on
# an empty base with the CA bundle alone, run as a non-root user. There is
# no shell: the binary is the entry point.
#
#   docker build -t gatehouse --build-arg VERSION=v0.1.0 .
#   docker run --rm -p 8443:8443 \
#       -v /etc/gatehouse:/etc/gatehouse:ro -v gatehouse-data:/var/lib/gatehouse \
#       gatehouse serve --config /etc/gatehouse/gatehouse.yaml
#
# serve speaks plain HTTP on loopback only: in a container the file sets
# gateway.listen to 0.0.0.0:8443 with tls_cert_file and tls_key_file (or
# keeps loopback behind a TLS proxy sharing the network namespace), and
# admin_listen to 0.0.0.0:9447 for the orchestrator's probes. Its relative
# paths start at its own directory; what gatehouse writes (issuer keys on
# first start, the SQLite trail) needs a writable directory, such as the
# /var/lib/gatehouse volume.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so a source change reuses the download layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath \
        -ldflags="-s -w -X github.com/gatehouse-dev/gatehouse/cli.version=${VERSION}" \
        -o /out/gatehouse ./cmd/gatehouse
RUN mkdir -p /out/var/lib/gatehouse

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
COPY --from=build --chown=65532:65532 /out/var/lib/gatehouse /var/lib/gatehouse
USER 65532:65532
WORKDIR /var/lib/gatehouse
ENV HOME=/var/lib/gatehouse
EXPOSE 8443 9447
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve", "--config", "/etc/gatehouse/gatehouse.yaml"]
