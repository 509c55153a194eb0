# A thin wrapper over meson: `make` builds, `make check` runs every test
# suite, `make demo` shows a sandbox at work, `make bench` measures.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz

.PHONY: all deps build demo check check-fast check-vm check-asan fuzz bench clean

all: build

deps:
	@scripts/deps.sh build

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized >/dev/null

build: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD) >/dev/null || ninja -C $(BUILD)
	@mkdir -p $(BUILD)/bin
	@ln -sf ../src/daemon/runrad $(BUILD)/bin/runrad
	@ln -sf ../src/cli/runra $(BUILD)/bin/runra
	@ln -sf ../src/guest/runra-init $(BUILD)/bin/runra-init

demo: build
	@scripts/demo.sh $(BUILD)

check:
	@scripts/deps.sh build test
	@$(MAKE) --no-print-directory build
	@scripts/check.sh $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

# The unit and integration tests against the normal build only.
check-fast: build
	@scripts/deps.sh build test
	@CHECK_ASAN=0 CHECK_FUZZ=0 scripts/check.sh $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

# The VM backend's suite alone (make check runs it too).
check-vm: build
	@scripts/deps.sh build test
	@scripts/check-vm.sh $(BUILD)

bench: build
	@scripts/deps.sh build bench
	@bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
