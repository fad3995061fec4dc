# Thin wrapper: dependencies, build, demo, tests, benchmarks. meson does the work.
BUILD ?= build
CHECK_BUILD ?= build-check
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 6
MESON_SETUP = meson setup --reconfigure

DEBIAN_PACKAGES = meson ninja-build pkg-config gcc clang libclang-rt-14-dev \
	libsodium-dev libjansson-dev libuv1-dev libcmocka-dev libsqlite3-dev sqlite3 \
	libvirt-dev libmnl-dev libncurses-dev libarchive-dev libnftables-dev libsystemd-dev libssl-dev \
	wireguard-tools wireguard-go iproute2 procps iputils-ping nftables tmux jq curl bc util-linux \
	libvirt-daemon libvirt-daemon-driver-qemu libvirt-daemon-config-nwfilter qemu-system-x86 qemu-utils kmod e2fsprogs libcurl4-openssl-dev \
	dnsmasq-base iptables \
	scdoc bash-completion groff-base man-db systemd nginx-light python3-yaml iperf3 netcat-openbsd

# Only for make deb (and tests/integration/deb.sh): the packaging tools; the
# build dependencies come from debian/control (apt-get build-dep).
DEB_PACKAGES = build-essential dpkg-dev debhelper lintian mmdebstrap
DEB_OUT ?= build-deb

# make host-image: the bootable host disk (images/host/build.sh), kept out of
# the tree: $(HOST_IMAGE_OUT)/osi-host.img.
HOST_IMAGE_OUT ?= /var/cache/os-infrastructure/host-image

.PHONY: all deps deb-deps deb host-image build demo check check-unit check-integration check-fuzz bench clean

all: build

deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

demo: build
	demo/mesh.sh $(BUILD)
	demo/local-fleet.sh $(BUILD)

$(CHECK_BUILD)/build.ninja:
	meson setup $(CHECK_BUILD) -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

# clang with -Werror: the warnings gcc does not give fail make check too.
$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Dfuzz_seconds=$(FUZZ_SECONDS) -Dwerror=true \
		-Db_sanitize=address,undefined -Db_lundef=false

# Integration tests one at a time (namespaces, libvirtds and VMs of their
# own, timing they measure), with the clang build of the fuzz tree behind
# them at nice 19, on what CPU they leave idle (tests/behind.sh); then the
# fuzz targets, CPU-bound and independent, two at once. FUZZ_SECONDS=600
# make check fuzzes each for longer.
check: deps deb-deps $(CHECK_BUILD)/build.ninja $(FUZZ_BUILD)/build.ninja
	ninja -C $(CHECK_BUILD)
	meson test -C $(CHECK_BUILD) --suite unit --logbase unit --print-errorlogs
	meson configure $(FUZZ_BUILD) -Dwerror=true -Dfuzz_seconds=$(FUZZ_SECONDS) >/dev/null
	tests/behind.sh $(FUZZ_BUILD)/behind.log $(FUZZ_BUILD) -- \
		meson test -C $(CHECK_BUILD) --suite integration --suite slow --suite hostimage --logbase integration --print-errorlogs --num-processes 1
	meson test -C $(FUZZ_BUILD) --suite fuzz --logbase fuzz --print-errorlogs --num-processes 2
	tests/summary.sh $(CHECK_BUILD) $(FUZZ_BUILD)

bench: build
	@command -v virt-install >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq virtinst
	@command -v iperf3 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3
	ninja -C $(BUILD) tests/virt-tool
	bench/run.sh $(BUILD)

deb-deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@dpkg-checkbuilddeps 2>/dev/null || DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq ./

# The packages of debian/, built from a copy of the tree's files (tracked and
# untracked, not ignored) so the checkout gets no build products:
# $(DEB_OUT)/*.deb.
deb: deb-deps
	rm -rf $(DEB_OUT) && mkdir -p $(DEB_OUT)/src
	git ls-files -z --cached --others --exclude-standard | \
		xargs -0 sh -c 'for f; do [ -f "$$f" ] && printf "%s\0" "$$f"; done' sh | \
		tar --null -T - -cf - | tar -xf - -C $(DEB_OUT)/src
	cd $(DEB_OUT)/src && dpkg-buildpackage -b -us -uc
	lintian --fail-on error $(DEB_OUT)/*.changes
	@ls $(DEB_OUT)/*.deb

host-image: deb
	images/host/build.sh $(HOST_IMAGE_OUT) $(DEB_OUT)

clean:
	rm -rf $(BUILD) $(CHECK_BUILD) $(FUZZ_BUILD) $(DEB_OUT)
