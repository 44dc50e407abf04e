# The two commands a newcomer needs are `./make.sh run` and `./make.sh test` (see README.md):
# make.sh installs make itself when it is missing, then runs these targets.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CONFIG ?= examples/public-mirrors.yaml
CMAKE_FLAGS ?=

.PHONY: all setup build run test fresh-check fuzz soak unit integration demo bench bench-startup deploy-manifests asan tsan clean

all: build

setup:
	./scripts/setup.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

build: setup $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	mkdir -p /var/tmp/pullcache
	$(BUILD_DIR)/daemon/pullcache serve --config $(CONFIG)

# Everything: unit tests, then integration tests against docker-registry, containerd, skopeo.
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L unit -j $(JOBS)
	cd $(BUILD_DIR) && ctest --output-on-failure -L fuzz -j $(JOBS)
	cd $(BUILD_DIR) && ctest --output-on-failure -L integration

# The README's two commands on a bare Debian bookworm root (debootstrap --variant=minbase) from a
# fresh clone of the committed HEAD: `./make.sh run` until /healthz answers, then `./make.sh test`.
# Root; slow (installs everything and builds from scratch); not part of `make test` or CI.
# FRESH_CHECK_ARGS=--keep keeps the root for a look inside.
FRESH_CHECK_ARGS ?=
fresh-check:
	./scripts/fresh-check.sh $(FRESH_CHECK_ARGS)

# The libFuzzer targets for longer: `make fuzz FUZZ_SECONDS=600` (each; the test suite runs 30 s).
FUZZ_SECONDS ?= 300
fuzz: build
	cd $(BUILD_DIR) && PULLCACHE_FUZZ_SECONDS=$(FUZZ_SECONDS) ctest --output-on-failure -L fuzz -j $(JOBS)

# The soak test for longer (the test suite runs it for 60 s).
SOAK_SECONDS ?= 600
soak: build
	cd $(BUILD_DIR) && PULLCACHE_SOAK_SECONDS=$(SOAK_SECONDS) ./tests/pullcache_integration_tests --gtest_filter='SoakTest.*'

unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L unit -j $(JOBS)

integration: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L integration

# Offline demo: local docker-registry upstream, an image pushed to it, two containerd pulls
# through pullcache (the second from a fresh containerd root with the upstream stopped).
demo: build
	./scripts/demo.sh $(BUILD_DIR)

# pullcache vs distribution proxy, nginx proxy_cache and nginx sendfile (root: netns, tc).
# Writes build/bench-out/results.md; BENCHMARKS.md holds the latest full run.
bench: build
	BUILD_DIR=$(BUILD_DIR) ./bench/run.sh --out $(BUILD_DIR)/bench-out

# Start-up with 100,000 cached blobs: reconciliation alone and daemon start to /readyz.
bench-startup: build
	$(BUILD_DIR)/bench/startup_bench $(BUILD_DIR)/daemon/pullcache 100000 3

# Cluster mode's distribution tree simulated on the real ranking code: 100 / 1,000 / 5,000 nodes,
# strict vs adaptive, with and without churn (seconds; the same output every run). Exits 1 if an
# invariant breaks. BENCHMARKS.md holds the table.
.PHONY: bench-cluster-sim
bench-cluster-sim: setup $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS) --target pullcache_cluster_sim
	$(BUILD_DIR)/bench/pullcache_cluster_sim

# Cluster mode on shaped links: 8 nodes in network namespaces, each with its own pullcache and
# containerd, fetch a 600 MiB image at once with and without peers (root; about 15 minutes).
.PHONY: bench-cluster
bench-cluster: build
	BUILD_DIR=$(BUILD_DIR) ./bench/cluster.sh --out $(BUILD_DIR)/cluster-out

# Range reads of uncached 1 GiB blobs (a span at 90%, 8 parallel chunks, SOCI-like 5%) through
# pullcache, distribution and nginx, and from the registry itself (root; about 10 minutes).
.PHONY: bench-ranges
bench-ranges: build
	BUILD_DIR=$(BUILD_DIR) ./bench/ranges.sh --out $(BUILD_DIR)/ranges-out

# deploy/kustomize/pullcache.yaml from the chart's defaults (a test keeps them in step).
deploy-manifests:
	helm template pullcache helm/pullcache --namespace kube-system > deploy/kustomize/pullcache.yaml

# UBSan reports abort too (in the daemon the integration tests start as well), so none goes unseen.
asan:
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  $(MAKE) test BUILD_DIR=build-asan BUILD_TYPE=Debug CMAKE_FLAGS="-DPULLCACHE_SANITIZER=address,undefined -DPULLCACHE_FUZZ=OFF"

tsan:
	TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp halt_on_error=1" \
	  $(MAKE) test BUILD_DIR=build-tsan BUILD_TYPE=RelWithDebInfo CMAKE_FLAGS="-DPULLCACHE_SANITIZER=thread -DPULLCACHE_FUZZ=OFF"

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan
