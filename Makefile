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
	qemu-system-x86 busybox-static cpio gcc xz-utils linux-perf python3-venv default-jre-headless
# Perfetto's official protos for the --perfetto tests (docs/perfetto.md), from PyPI, in a
# virtual environment inside the build directory.
PERFETTO_PY ?= 0.59.1
PERFETTO_VENV := .build/venv-perfetto
# The Spark fleet test's PySpark (4.x, about 300 MB) and pyarrow, from PyPI into a virtual
# environment in the build directory (docs/fleet.md), with Java from Debian (default-jre-headless).
SPARK_VENV := .build/venv-spark
# What `make deb` builds with (dpkg-shlibdeps) and `make dist-check` checks with: lintian, man,
# the three shells whose completion scripts are loaded, and debootstrap for a clean Debian.
# What `make bench` compares with and builds its C counter with.
BENCH_PACKAGES := gcc linux-perf
DIST_PACKAGES := dpkg-dev binutils
DIST_CHECK_PACKAGES := lintian man-db bash-completion zsh fish debootstrap

.PHONY: all deps test-deps install-missing build test demo bench fuzz fuzz-build sanitize lint clean \
	dist deb install uninstall dist-check perfetto-venv spark-deps

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

# FOLIOTRACE_SKIP_PERFETTO=1 (a machine without PyPI) skips it, and the tests that need it.
ifeq ($(FOLIOTRACE_SKIP_PERFETTO),1)
perfetto-venv:
	@echo "make perfetto-venv: skipped (FOLIOTRACE_SKIP_PERFETTO=1)"
else
perfetto-venv: $(PERFETTO_VENV)/.perfetto-$(PERFETTO_PY)
endif
$(PERFETTO_VENV)/.perfetto-$(PERFETTO_PY):
	rm -rf $(PERFETTO_VENV)
	python3 -m venv $(PERFETTO_VENV)
	$(PERFETTO_VENV)/bin/pip install -q perfetto==$(PERFETTO_PY) || { \
		echo "make perfetto-venv: cannot install perfetto==$(PERFETTO_PY) from PyPI (docs/perfetto.md;" \
			"FOLIOTRACE_SKIP_PERFETTO=1 skips the Perfetto tests)"; rm -rf $(PERFETTO_VENV); exit 1; }
	touch $@

# FOLIOTRACE_SKIP_SPARK=1 (a machine without PyPI or Java) skips it, and the Spark fleet test.
ifeq ($(FOLIOTRACE_SKIP_SPARK),1)
spark-deps:
	@echo "make spark-deps: skipped (FOLIOTRACE_SKIP_SPARK=1)"
else
spark-deps: $(SPARK_VENV)/.installed
endif
$(SPARK_VENV)/.installed:
	rm -rf $(SPARK_VENV)
	python3 -m venv $(SPARK_VENV)
	$(SPARK_VENV)/bin/pip install -q --disable-pip-version-check pyspark pyarrow || { \
		echo "make spark-deps: cannot install pyspark and pyarrow from PyPI (docs/fleet.md;" \
			"FOLIOTRACE_SKIP_SPARK=1 skips the Spark fleet test)"; rm -rf $(SPARK_VENV); exit 1; }
	touch $@

# The tests run the debug `foliotrace` binary, so build everything before testing.
test: test-deps perfetto-venv spark-deps
	$(SWIFT) build --build-tests -Xswiftc -warnings-as-errors
	$(SWIFT) test --skip-build

# Packaging (docs/install.md). `make dist` leaves in dist/ a stripped release binary with the
# Swift runtime linked statically (only Debian's own libraries stay shared), its man page
# (swift-argument-parser's generate-manual, from the binary's own help) and its bash, zsh and
# fish completions; the build has its own folder, .build-dist. The version, commit and date
# that `foliotrace --version` prints go into a git-ignored Sources/foliotrace/BuildInfo+Stamp.swift,
# compiled only with -DFOLIOTRACE_STAMPED; a plain `swift build` says "dev".
# VERSION: a tag vX.Y.Z on HEAD gives X.Y.Z; otherwise BASE_VERSION~gitDATE.COMMIT (sorts
# before BASE_VERSION, as Debian expects of a snapshot).
BASE_VERSION := 0.1.0
GIT_COMMIT    = $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
GIT_TAG       = $(shell git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null)
VERSION      ?= $(if $(GIT_TAG),$(GIT_TAG:v%=%),$(BASE_VERSION)~git$(shell git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null).$(shell git rev-parse --short=12 HEAD 2>/dev/null))
BUILD_DATE   ?= $(shell date -u $(if $(SOURCE_DATE_EPOCH),-d @$(SOURCE_DATE_EPOCH)) +%Y-%m-%d)
MAINTAINER   ?= $(shell git log -1 --format='%an <%ae>' 2>/dev/null)
DIST_BUILD   := $(SWIFT) build -c release --static-swift-stdlib --scratch-path .build-dist -Xswiftc -DFOLIOTRACE_STAMPED
STAMP        := Sources/foliotrace/BuildInfo+Stamp.swift
# The most the stripped binary may weigh: Foundation's internationalization data alone is
# ~40 MB, so a link that pulls it in again fails here.
DIST_MAX_BYTES ?= 26214400

dist: deps
	@$(MAKE) --no-print-directory install-missing WANT="$(DIST_PACKAGES)"
	@printf '%s\n' '// Written by make dist (Makefile); git ignores it. See BuildInfo.swift.' \
		'#if FOLIOTRACE_STAMPED' 'extension BuildInfo {' \
		'    static let current = BuildInfo(' '        version: "$(VERSION)",' '        commit: "$(GIT_COMMIT)",' \
		'        date: "$(BUILD_DATE)"' '    )' '}' '#endif' >$(STAMP).new
	@if cmp -s $(STAMP).new $(STAMP); then rm $(STAMP).new; else mv $(STAMP).new $(STAMP); fi
	$(DIST_BUILD) --product foliotrace
	$(DIST_BUILD) --product generate-manual
	rm -rf dist/foliotrace dist/foliotrace.1 dist/completions && mkdir -p dist/completions
	strip -o dist/foliotrace .build-dist/release/foliotrace
	@# A completion file is sourced, not run: no #! line (lintian: bash-completion-with-hashbang).
	dist/foliotrace --generate-completion-script bash | sed '1{/^#!/d}' >dist/completions/foliotrace.bash
	dist/foliotrace --generate-completion-script zsh >dist/completions/_foliotrace
	dist/foliotrace --generate-completion-script fish >dist/completions/foliotrace.fish
	.build-dist/release/generate-manual dist/foliotrace --date $(BUILD_DATE) --output-directory dist
	@# generate-manual leaves blank lines between paragraphs, which mdoc warns about: paragraph breaks.
	sed -i "s/^$$/.Pp/" dist/foliotrace.1
	@echo "dist/foliotrace $$(dist/foliotrace --version): $$(stat -c %s dist/foliotrace) bytes stripped" \
		"($$(stat -c %s .build-dist/release/foliotrace) unstripped); shared libraries:"
	@ldd dist/foliotrace | sed 's/^/  /'
	@if ldd dist/foliotrace | grep -E 'not found|swift|Foundation|/opt/'; then \
		echo "dist: the binary needs a library outside Debian's (above)"; exit 1; fi
	@if [ $$(stat -c %s dist/foliotrace) -gt $(DIST_MAX_BYTES) ]; then \
		echo "dist: dist/foliotrace is over $(DIST_MAX_BYTES) bytes"; exit 1; fi

# dist/foliotrace_VERSION_ARCH.deb, built with dpkg-shlibdeps and dpkg-deb (packaging/build-deb.sh).
deb: dist
	bash packaging/build-deb.sh '$(VERSION)' '$(MAINTAINER)' '$(GIT_COMMIT)'

# For those who build from source: the dist binary, man page and completions under PREFIX.
PREFIX  ?= /usr/local
DESTDIR ?=
INSTALLED := bin/foliotrace share/man/man1/foliotrace.1 share/bash-completion/completions/foliotrace \
	share/zsh/site-functions/_foliotrace share/fish/vendor_completions.d/foliotrace.fish
install: dist
	install -D -m 755 dist/foliotrace $(DESTDIR)$(PREFIX)/bin/foliotrace
	install -D -m 644 dist/foliotrace.1 $(DESTDIR)$(PREFIX)/share/man/man1/foliotrace.1
	install -D -m 644 dist/completions/foliotrace.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/foliotrace
	install -D -m 644 dist/completions/_foliotrace $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_foliotrace
	install -D -m 644 dist/completions/foliotrace.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/foliotrace.fish
uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(INSTALLED))

# The package checked as a user would meet it (packaging/check-dist.sh): contents, lintian,
# the binary run with the toolchain hidden, the man page rendered, completions loaded, `make
# install` into a scratch prefix. A static release build takes minutes: CI runs it once, apart
# from `make test`.
dist-check: deb
	@$(MAKE) --no-print-directory install-missing WANT="$(DIST_CHECK_PACKAGES)"
	bash packaging/check-dist.sh

# Decode throughput against a C loop over libtracecmd and against `trace-cmd report`, and on the
# perf.data fixtures against `perf script`, in one run; then whole-process `foliotrace events`
# and `analyze` against a C counter over libtracecmd (issue 19's goals: 4x and 2x). A missed
# goal is printed and makes `make bench` exit 1 (after the live storm and the scale benchmark,
# a 20-million-event capture recorded then and there, have run too: docs/testing.md).
PERF_FIXTURES := $(filter-out %no-tracepoints.perf.data,$(wildcard fixtures/linux-*/perf/*.perf.data))
# SwiftPM does not re-plan Benchmarks/ when the main package gains or loses a source file (it
# depends on it by path); a newer manifest makes it re-plan.
# Both sides of a whole-process ratio are the programs a user runs: foliotrace as `make dist`
# ships it (the Swift runtime linked in, so no dynamic linking of libswiftCore at each start),
# and the counter as the plain C program it is (cc, libtracecmd only; built by SwiftPM it
# also loaded libswiftCore, 1.7 ms a run here).
BENCH_FOLIOTRACE := .build-bench/release/foliotrace
BENCH_COUNT := Benchmarks/bin/tracecmd-count
bench:
	@$(MAKE) --no-print-directory install-missing WANT="$(PACKAGES) $(BENCH_PACKAGES)"
	touch Benchmarks/Package.swift
	$(SWIFT) build -c release --package-path Benchmarks
	$(SWIFT) build -c release --static-swift-stdlib --scratch-path .build-bench --product foliotrace
	mkdir -p Benchmarks/bin
	$(CC) -O2 -o $(BENCH_COUNT) Benchmarks/Sources/tracecmd-count/main.c Benchmarks/Sources/TraceCmdLoop/loop.c \
		-IBenchmarks/Sources/TraceCmdLoop/include $$(pkg-config --cflags --libs libtracecmd libtraceevent)
	@status=0; Benchmarks/.build/release/decode-bench --foliotrace $(BENCH_FOLIOTRACE) \
		--tracecmd-count $(BENCH_COUNT) \
		$(wildcard fixtures/linux-*/*.dat) $(PERF_FIXTURES) || status=$$?; \
	FOLIOTRACE=$(BENCH_FOLIOTRACE) TRACECMD_COUNT=$(BENCH_COUNT) bash Benchmarks/live-storm.sh || status=$$?; \
	FOLIOTRACE=$(BENCH_FOLIOTRACE) TRACECMD_COUNT=$(BENCH_COUNT) bash Benchmarks/scale-bench.sh || status=$$?; \
	exit $$status

# libFuzzer targets for the trace.dat and perf.data readers (Fuzz/, docs/fuzzing.md), each run
# FUZZ_SECONDS; crashers are saved under Fuzz/crashers/ and make the run fail. As for bench,
# touching the manifest makes SwiftPM re-plan when the main package's files change.
# The sanitizers go to swiftc once more as one flag, `-sanitize=fuzzer,address`, last: SwiftPM
# turns `--sanitize` into one `-sanitize=X` per sanitizer in the order of a Swift Set (a new
# order in each process: hash seeding), and swiftc hands only the last `-sanitize=` to the
# compiler (all of them to the linker). Without it, a build had either coverage and no
# AddressSanitizer in the Swift code, or ASan and no coverage counters (no __sancov_cntrs:
# libFuzzer searched blind, `cov: 0`), by a coin flip per `swift build`. Fuzz/check-build.sh
# checks that each target has both.
FUZZ_SECONDS ?= 300
FUZZ_TARGETS ?= tracedat perfdata
FUZZ_BUILD = $(SWIFT) build -c release --package-path Fuzz --sanitize=fuzzer --sanitize=address \
	-Xswiftc -sanitize=fuzzer,address
fuzz-build: deps
	touch Fuzz/Package.swift
	$(FUZZ_BUILD)
	@bash Fuzz/check-build.sh $(FUZZ_TARGETS)
fuzz: fuzz-build
	@status=0; for t in $(FUZZ_TARGETS); do \
		echo "== fuzz-$$t for $(FUZZ_SECONDS) s"; Fuzz/run.sh $$t $(FUZZ_SECONDS); s=$$?; \
		if [ $$s -gt $$status ]; then status=$$s; fi; done; \
	exit $$status

# The test suite under AddressSanitizer, in its own build directory (.build-address), the CLI
# tests running that build's binary. SANITIZERS="address thread" adds ThreadSanitizer; Swift
# 6.3 on Linux refuses `undefined` (docs/fuzzing.md). SANITIZE_FILTER narrows the tests
# (swift test --filter); the qemu guest test is skipped (its initrd has no ASan runtime).
SANITIZERS      ?= address
SANITIZE_FILTER ?=
sanitize: test-deps perfetto-venv
	@for s in $(SANITIZERS); do \
		echo "== swift test --sanitize=$$s"; \
		$(SWIFT) build --build-tests --sanitize=$$s --scratch-path .build-$$s || exit 1; \
		FOLIOTRACE_TEST_BINARY=$(CURDIR)/.build-$$s/debug/foliotrace FOLIOTRACE_TEST_MEMORY_KB=0 \
			ASAN_OPTIONS=detect_leaks=0 \
			$(SWIFT) test --skip-build --sanitize=$$s --scratch-path .build-$$s --skip GuestRecordTests \
			$(if $(SANITIZE_FILTER),--filter '$(SANITIZE_FILTER)') || exit 1; \
	done

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Benchmarks/Sources Fuzz Package.swift

clean:
	rm -rf .build .build-address .build-thread .build-dist .build-bench dist $(STAMP) Benchmarks/.build Benchmarks/bin Fuzz/.build
