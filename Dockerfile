# syntax=docker/dockerfile:1
# pullcache container image, for those who build with Docker/BuildKit. (The test machines have
# no container engine: scripts/build-image.sh assembles the same runtime as an OCI layout from a
# built binary, and the test suite pulls and runs that one through containerd.)

FROM debian:bookworm AS build
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      g++ cmake make pkg-config git ca-certificates \
      libboost1.81-dev libcurl4-openssl-dev libssl-dev librocksdb-dev libyaml-cpp-dev \
      libspdlog-dev libfmt-dev nlohmann-json3-dev prometheus-cpp-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DPULLCACHE_TESTS=OFF \
    && cmake --build /build -j"$(nproc)" --target pullcache \
    && strip --strip-unneeded /build/daemon/pullcache

FROM debian:bookworm-slim
# The shared libraries the binary links, and CA certificates for TLS to the upstreams.
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      ca-certificates libcurl4 librocksdb7.8 libyaml-cpp0.7 libspdlog1.10 libfmt9 \
      libprometheus-cpp-core1.0 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/daemon/pullcache /usr/bin/pullcache
# Runs as uid 0 with every capability dropped (see helm/pullcache/README.md for why).
ENTRYPOINT ["/usr/bin/pullcache"]
CMD ["serve", "--config", "/etc/pullcache/config.yaml"]
