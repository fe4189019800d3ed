# gokmod — see README.md. `make demo` and `make test` do all set-up themselves.
SHELL := /bin/bash
GO ?= go
export GOKMOD_CACHE ?= $(CURDIR)/.cache
VMSTATS := $(GOKMOD_CACHE)/vmstats.txt
REPORT := $(GOKMOD_CACHE)/test-report.txt
# kmod's own test-suite data: beside the checkout (as in CI), or wherever the variable says.
KMOD_SUITE := $(firstword $(wildcard $(GOKMOD_KMOD_TESTSUITE)/rootfs-pristine $(CURDIR)/../shared/kmod-testsuite/rootfs-pristine))
export GOKMOD_KMOD_TESTSUITE := $(if $(KMOD_SUITE),$(patsubst %/rootfs-pristine,%,$(KMOD_SUITE)),absent)

.PHONY: all build install uninstall setup setup-arm64 test test-arm64-user test-arm64-user-all unit vet demo bench fuzz fuzz-short fidelity kmod-suite versions clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/gokmod ./cmd/gokmod
	@for t in insmod rmmod lsmod modinfo modprobe depmod kmod; do ln -sf gokmod bin/$$t; done

# make install [PREFIX=/usr/local] [DESTDIR=...]: gokmod in bin with kmod's names linked to
# it (the tools in sbin, kmod in bin, where Debian puts them), man pages and bash/zsh
# completion generated from the tools' own --help (internal/cmd/gendocs), so they cannot
# drift. With PREFIX's bin and sbin first in PATH, gokmod answers in place of kmod; make
# uninstall removes exactly what install wrote. See README ("In place of kmod").
PREFIX ?= /usr/local
INSTALL_TOOLS := insmod rmmod lsmod modinfo modprobe depmod
MAN_PAGES := gokmod $(INSTALL_TOOLS) kmod gokmod-explain gokmod-check gokmod-sim
prefix := $(DESTDIR)$(PREFIX)
install: build
	install -d $(prefix)/bin $(prefix)/sbin $(prefix)/share/man/man8 \
	  $(prefix)/share/bash-completion/completions $(prefix)/share/zsh/site-functions
	install -m 0755 bin/gokmod $(prefix)/bin/gokmod
	ln -sf gokmod $(prefix)/bin/kmod
	@for t in $(INSTALL_TOOLS); do ln -sf ../bin/gokmod $(prefix)/sbin/$$t; done
	@rm -rf .gendocs.tmp
	$(GO) run ./internal/cmd/gendocs -man .gendocs.tmp/man -bash .gendocs.tmp/bash -zsh .gendocs.tmp/zsh
	install -m 0644 .gendocs.tmp/man/*.8 $(prefix)/share/man/man8/
	install -m 0644 .gendocs.tmp/bash/* $(prefix)/share/bash-completion/completions/
	install -m 0644 .gendocs.tmp/zsh/_gokmod $(prefix)/share/zsh/site-functions/
	@rm -rf .gendocs.tmp

uninstall:
	rm -f $(prefix)/bin/gokmod $(prefix)/bin/kmod $(addprefix $(prefix)/sbin/,$(INSTALL_TOOLS))
	rm -f $(foreach p,$(MAN_PAGES),$(prefix)/share/man/man8/$(p).8)
	rm -f $(foreach c,gokmod kmod $(INSTALL_TOOLS),$(prefix)/share/bash-completion/completions/$(c))
	rm -f $(prefix)/share/zsh/site-functions/_gokmod

setup:
	bash scripts/setup.sh

# Every arm64 line the arm64 judge boots (bookworm's 6.1, trixie's 6.12, sid's 7.x);
# make setup prepares trixie's alone, the one make test boots.
setup-arm64:
	GOKMOD_ARM64_SUITES="bookworm trixie sid" bash scripts/setup-arm64.sh

versions: setup
	@bash scripts/versions.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	@# The target architecture is data, not the build's: the tools must build and vet for arm64 too.
	GOARCH=arm64 CGO_ENABLED=0 $(GO) build ./...
	GOARCH=arm64 $(GO) vet ./...

# The pure packages' tests, built for arm64 and run here under qemu-aarch64 user-mode
# emulation (qemu-user-static, installed by scripts/setup-arm64.sh): the tools' readers
# and indexes on the architecture they will run on. make test runs these (about 1 min),
# less ko's TestPartialRealTrees, which reads every prepared tree (6 s natively, 30 s
# emulated; make test runs it natively); kernel/, load/ and kmod/depmod/ read whole module
# trees and take 3.5, 2 and over 10 min emulated: make test-arm64-user-all adds them.
ARM64_USER_PKGS := ./ko/ ./kmod/ ./kmod/compat/ ./kmod/config/ ./kmod/index/ ./kmod/modprobe/ ./kernel/cert/
ARM64_USER_TEST := GOARCH=arm64 CGO_ENABLED=0 $(GO) test -count=1 -exec qemu-aarch64-static
test-arm64-user: setup
	$(ARM64_USER_TEST) $(ARM64_USER_PKGS)

test-arm64-user-all: setup
	$(ARM64_USER_TEST) -timeout 60m $(ARM64_USER_PKGS) ./kernel/ ./load/ ./kmod/depmod/

# All tests, VM tests included: every guest boots one of Debian's real kernels in QEMU.
test: setup vet
	@bash scripts/versions.sh
	$(ARM64_USER_TEST) -skip '^TestPartialRealTrees$$' $(ARM64_USER_PKGS)
	@if [ -z "$(KMOD_SUITE)" ]; then \
	  echo "!! kmod's test-suite data (../shared/kmod-testsuite) is absent: the tests that replay it are skipped;"; \
	  echo "!! run them with: make kmod-suite GOKMOD_KMOD_TESTSUITE=/path/to/kmod-testsuite"; fi
	@$(MAKE) --no-print-directory fuzz-short
	@rm -f $(VMSTATS) $(REPORT)
	GOKMOD_VMSTATS=$(VMSTATS) GOKMOD_REPORT=$(REPORT) $(GO) test -count=1 -timeout 30m ./... 2>&1 | tee $(GOKMOD_CACHE)/test.log; \
	  rc=$${PIPESTATUS[0]}; echo "== what the differential tests compared =="; grep -v "^MATRIX" $(REPORT) 2>/dev/null; bash scripts/matrix.sh $(REPORT); \
	  bash scripts/vmstats.sh $(VMSTATS); exit $$rc

# kmod's own test-suite fixtures replayed against gokmod (part of make test when present).
kmod-suite:
	@test -n "$(KMOD_SUITE)" || { echo "kmod test-suite data not found: set GOKMOD_KMOD_TESTSUITE"; exit 1; }
	$(GO) test -count=1 -v -run 'Fixture|Kmod|Suite' ./kmod/... 2>&1 | grep -E '^(=== RUN|--- |ok|FAIL|PASS)' 

# make test's run of every fuzz target: a number of executions each (about 10 s on 2
# cores), not a duration. Go 1.26's fuzzing coordinator can fail a duration-bounded run
# at its deadline with a bare "context deadline exceeded" and no crasher
# (go.dev/issue/75804, fixed in Go 1.27); a count has no deadline to race.
fuzz-short:
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=200000x -fuzzminimizetime=1s ./ko/
	$(GO) test -run='^$$' -fuzz='^FuzzDecompress$$' -fuzztime=150000x -fuzzminimizetime=1s ./ko/
	$(GO) test -run='^$$' -fuzz='^FuzzPKCS7$$' -fuzztime=300000x -fuzzminimizetime=1s ./ko/
	$(GO) test -run='^$$' -fuzz='^FuzzPartial$$' -fuzztime=300000x -fuzzminimizetime=1s ./ko/
	$(GO) test -run='^$$' -fuzz='^FuzzIndex$$' -fuzztime=200000x -fuzzminimizetime=5s ./kmod/index/
	$(GO) test -run='^$$' -fuzz='^FuzzConfig$$' -fuzztime=120000x -fuzzminimizetime=5s ./kmod/config/
	$(GO) test -run='^$$' -fuzz='^FuzzCache$$' -fuzztime=350000x -fuzzminimizetime=5s ./kmod/depmod/
	$(GO) test -run='^$$' -fuzz='^FuzzBzImage$$' -fuzztime=30000x -fuzzminimizetime=1s ./kernel/
	$(GO) test -run='^$$' -fuzz='^FuzzBTF$$' -fuzztime=30000x -fuzzminimizetime=1s ./kernel/
	$(GO) test -run='^$$' -fuzz='^FuzzCert$$' -fuzztime=30000x -fuzzminimizetime=1s ./kernel/cert/

# A longer run of every fuzz target (make fuzz FUZZTIME=10m). With a duration, Go 1.26 may
# end a run with a bare "context deadline exceeded" and no crasher (see fuzz-short): not a
# finding.
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=1s ./ko/
	$(GO) test -run='^$$' -fuzz='^FuzzDecompress$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=1s ./ko/
	$(GO) test -run='^$$' -fuzz='^FuzzPKCS7$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=1s ./ko/
	$(GO) test -run='^$$' -fuzz='^FuzzPartial$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=1s ./ko/
	$(GO) test -run='^$$' -fuzz='^FuzzIndex$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./kmod/index/
	$(GO) test -run='^$$' -fuzz='^FuzzConfig$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./kmod/config/
	$(GO) test -run='^$$' -fuzz='^FuzzCache$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./kmod/depmod/
	$(GO) test -run='^$$' -fuzz='^FuzzBzImage$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=1s ./kernel/
	$(GO) test -run='^$$' -fuzz='^FuzzBTF$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=1s ./kernel/
	$(GO) test -run='^$$' -fuzz='^FuzzCert$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=1s ./kernel/cert/

demo: setup build
	$(GO) run ./internal/cmd/demo

# The model against the real kernel, field by field, over every module of both trees.
fidelity: setup
	$(GO) run ./internal/cmd/fidelity $(FIDELITY_FLAGS)

# bench-depmod.sh last: it ends with the summary of the targets, beside both kmods.
bench: setup build
	$(GO) run ./internal/cmd/benchtools
	bash scripts/bench-insmod.sh
	bash scripts/bench-depmod.sh

clean:
	rm -rf bin
