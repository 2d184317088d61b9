# Meshwork's programs in one image (docker-compose.yml runs each service
# from it with its own command).  Two stages: the build stage has the
# compilers and the -dev packages and runs `make programs` (a release
# build, the catalog page compiled in); the runtime stage has only the
# shared libraries the programs link, curl for the health checks, and the
# five binaries.
#
#   docker build -t meshwork .
#   docker run --rm meshwork mesh-registry --help

FROM debian:12-slim AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential pkg-config librdkafka-dev libavro-dev libjansson-dev \
        libevent-dev libpq-dev libsqlite3-dev libyaml-dev libcrypt-dev \
        libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the build reads: the Makefile and the library folders (tests,
# docs, examples and bench stay out of the image).
COPY Makefile ./
COPY common/ common/
COPY broker-adapters/ broker-adapters/
COPY schema-registry/ schema-registry/
COPY producers/ producers/
COPY consumers/ consumers/
RUN make -j"$(nproc)" programs BUILD=build

FROM debian:12-slim AS runtime
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        librdkafka1 libavro23 libjansson4 libevent-2.1-7 \
        libevent-pthreads-2.1-7 libevent-openssl-2.1-7 libpq5 libsqlite3-0 \
        libyaml-0-2 libcrypt1 libssl3 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# An unprivileged user owning the state directory, so a named volume
# mounted there starts with the right owner.
RUN useradd --system --home-dir /var/lib/meshwork --shell /usr/sbin/nologin \
        mesh \
    && mkdir -p /var/lib/meshwork \
    && chown mesh:mesh /var/lib/meshwork
COPY --from=build /src/build/bin/ /usr/local/bin/
USER mesh
WORKDIR /var/lib/meshwork
VOLUME ["/var/lib/meshwork"]
CMD ["mesh-registry"]
