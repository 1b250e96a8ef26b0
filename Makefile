# foliotrace: `make demo` runs the main job on a bundled real trace, `make test` runs the tests.
# Both install the Debian packages they need first when they are missing (`make deps`).

SWIFT    ?= swift
FIXTURE  ?= fixtures/linux-6.18/memcg-reclaim-foreign.dat
SUDO     := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
PACKAGES := pkg-config libtraceevent-dev libtracefs-dev libtracecmd-dev libzstd-dev zlib1g-dev libsqlite3-dev trace-cmd
# What only the tests use: a real JSON Schema validator, a real browser for the HTML report, the
# sqlite3 shell, pahole (a second BTF reader), qemu with busybox for the 6.1 guest test, and perf
# (perf script is the reference reader of the perf.data fixtures).
TEST_PACKAGES := python3-jsonschema chromium fonts-liberation sqlite3 dwarves \
	qemu-system-x86 busybox-static cpio gcc xz-utils linux-perf

.PHONY: all deps test-deps install-missing build test demo bench lint clean

all: build

deps:
	@$(MAKE) --no-print-directory install-missing WANT="$(PACKAGES)"

test-deps:
	@$(MAKE) --no-print-directory install-missing WANT="$(PACKAGES) $(TEST_PACKAGES)"

install-missing:
	@missing=$$(for p in $(WANT); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing" $$missing; \
		{ $(SUDO) apt-get update -q || echo "make deps: apt-get update failed in part (a mirror mid-sync?); installing from the indexes it has"; } && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

build: deps
	$(SWIFT) build -c release

demo: build
	.build/release/foliotrace analyze $(FIXTURE)

# The tests run the debug `foliotrace` binary, so build everything before testing.
test: test-deps
	$(SWIFT) build --build-tests -Xswiftc -warnings-as-errors
	$(SWIFT) test --skip-build

# Decode throughput against a C loop over libtracecmd and against `trace-cmd report`, and on the
# perf.data fixtures against `perf script`, in one run.
PERF_FIXTURES := $(filter-out %no-tracepoints.perf.data,$(wildcard fixtures/linux-*/perf/*.perf.data))
# SwiftPM does not re-plan Benchmarks/ when the main package gains or loses a source file (it
# depends on it by path); a newer manifest makes it re-plan.
bench: deps
	touch Benchmarks/Package.swift
	$(SWIFT) build -c release --package-path Benchmarks
	Benchmarks/.build/release/decode-bench $(wildcard fixtures/linux-*/*.dat) $(PERF_FIXTURES)
	$(SWIFT) build -c release --product foliotrace
	bash Benchmarks/live-storm.sh

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Benchmarks/Sources Package.swift

clean:
	rm -rf .build Benchmarks/.build
