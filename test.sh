#!/usr/bin/env bash
# The project's test command: installs what the test suite needs, then runs
# `cargo test "$@"` (so `./test.sh portal` runs the tests matching "portal").
#
# The suite starts real servers and tools on this machine, so it installs
# (each only when missing, so a second run goes straight to the tests):
#   - PostgreSQL server binaries (Debian's postgresql): the harness starts a
#     private cluster from initdb/pg_ctl, as the `postgres` OS user when run
#     as root;
#   - pg_cron (postgresql-NN-cron, for each installed server), for
#     tests/it/pg_cron.rs, which preloads it in a cluster of its own;
#   - RabbitMQ (Debian's rabbitmq-server), for the RabbitMQ destination
#     tests: the harness starts a private broker from /usr/lib/rabbitmq/bin;
#   - Python packages from PyPI, into the `python3` on PATH (the one the
#     tests run): outpost-sdk (tests/it/sdk.rs drives outbound with Outpost's
#     SDK), standardwebhooks (tests/it/standard_webhooks.rs verifies real
#     deliveries with it) and moto[server]==5.2.1 (the AWS emulator that
#     tests/it/aws.rs starts; pinned so a new release cannot change what the
#     tests see);
#   - Debian's Chromium, node and npm, and playwright-core from npm (pinned in
#     tests/portal/package-lock.json) for the portal's browser test;
#   - Hookdeck Outpost's TypeScript SDK from npm (pinned in
#     tests/sdk/typescript/package-lock.json), which tests/it/sdk.rs drives;
#   - Citus 13.2 (distributed PostgreSQL), built from ../shared/vendor/citus
#     when that folder is there, for tests/it/citus.rs (see below);
#   - tansu 0.6.0, a Kafka-compatible broker, for the Kafka tests: built with
#     `cargo install` into $TANSU_ROOT (default /var/tmp/tansu-root; its build
#     folder /var/tmp/target-tansu is kept), so it is built once per machine
#     (10-30 minutes on 2 cores, more on a busy one: the longest step of a
#     first run). The tests find it through TANSU_BIN, exported here.
#
# Run it as root (as CI does) or as a user who may use sudo: apt-get, and pip
# when the python3 on PATH is not writable by you, then run under sudo; as
# root, sudo is never used. The private test cluster is stopped at exit if
# this run started it.
#
# Set CARGO_TARGET_DIR as for any cargo command; TANSU_ROOT moves tansu.
set -euo pipefail
cd "$(dirname "$0")"

say() { echo "test.sh: $*"; }

if [ "$(id -u)" = 0 ]; then
  as_root() { "$@"; }
else
  as_root() {
    command -v sudo >/dev/null 2>&1 || {
      say "installing needs root: run as root or install sudo (to run: $*)"
      exit 1
    }
    sudo "$@"
  }
fi

apt_updated=0
need_pkg() {
  if [ "$apt_updated" = 0 ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The harness signals its brokers with kill(1).
command -v kill >/dev/null 2>&1 || need_pkg procps

# PostgreSQL server binaries (the test harness starts a private cluster
# from them, run as the `postgres` OS user when we are root).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  say "installing PostgreSQL"
  need_pkg postgresql
fi
command -v runuser >/dev/null 2>&1 || need_pkg util-linux

# pg_cron, for tests/it/pg_cron.rs: it starts a cluster of its own with
# shared_preload_libraries = 'pg_cron' and checks that `outbound migrate`
# schedules maintenance there. Debian's package for the installed server.
for pg_bin in /usr/lib/postgresql/*/bin; do
  [ -d "$pg_bin" ] || continue
  pg_major=$(basename "$(dirname "$pg_bin")")
  if [ ! -f "/usr/share/postgresql/$pg_major/extension/pg_cron.control" ]; then
    say "installing postgresql-$pg_major-cron"
    need_pkg "postgresql-$pg_major-cron"
  fi
done

# RabbitMQ server binaries (the test harness starts a private broker from
# /usr/lib/rabbitmq/bin on free ports and stops it when the tests exit).
# Installing starts Debian's own service where the init system allows it:
# stopped, it holds no port or Erlang node name the tests could collide with.
if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  say "installing RabbitMQ"
  # Its post-install step starts the service, which may fail where there is
  # no init system; the binaries are what the tests need.
  need_pkg --no-install-recommends rabbitmq-server \
    || say "rabbitmq-server's post-install step failed; continuing with its binaries"
  as_root service rabbitmq-server stop >/dev/null 2>&1 || true
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || { say "RabbitMQ did not install"; exit 1; }
fi

# Python packages, installed into the python3 the tests run.
command -v python3 >/dev/null 2>&1 || { say "installing python3"; need_pkg python3 python3-pip; }
python3 -m pip --version >/dev/null 2>&1 || { say "installing pip"; need_pkg python3-pip; }
pip_install() {
  local python site
  python=$(command -v python3)
  site=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  # PIP_BREAK_SYSTEM_PACKAGES: Debian 12 and Ubuntu 23.04+ mark their own
  # Python as managed by apt, and pip refuses it without this (older pips
  # ignore the variable). sudo only where we cannot write (a system Python).
  if [ -w "$site" ]; then
    PIP_BREAK_SYSTEM_PACKAGES=1 "$python" -m pip install -q "$@"
  else
    as_root env PIP_BREAK_SYSTEM_PACKAGES=1 "$python" -m pip install -q "$@"
  fi
}
# Hookdeck Outpost's Python SDK, driven against outbound by tests/it/sdk.rs.
if ! python3 -c "import outpost_sdk" >/dev/null 2>&1; then
  say "installing outpost-sdk"
  pip_install outpost-sdk
fi
# The Standard Webhooks reference library, which verifies real deliveries in
# tests/it/standard_webhooks.rs.
if ! python3 -c "import standardwebhooks" >/dev/null 2>&1; then
  say "installing standardwebhooks"
  pip_install standardwebhooks
fi
# moto, the AWS emulator that tests/it/aws.rs starts (SQS, S3, Kinesis and
# IAM, with request signatures checked). Pinned so a new moto release
# cannot change what the tests see.
MOTO_VERSION=5.2.1
if ! python3 -c "import moto.server, moto; assert moto.__version__ == '$MOTO_VERSION'" >/dev/null 2>&1; then
  say "installing moto $MOTO_VERSION"
  pip_install "moto[server]==$MOTO_VERSION"
fi

# The portal's browser test (tests/it/portal.rs): Debian's headless
# Chromium, driven by playwright-core, and axe-core for the accessibility
# pass, both from npm (pinned in tests/portal/package-lock.json).
command -v chromium >/dev/null 2>&1 || { say "installing chromium"; need_pkg chromium; }
command -v npm >/dev/null 2>&1 || { say "installing node"; need_pkg nodejs npm; }
if [ ! -d tests/portal/node_modules/playwright-core ] \
  || [ tests/portal/package-lock.json -nt tests/portal/node_modules/.package-lock.json ]; then
  say "installing playwright-core and axe-core (npm ci --prefix tests/portal)"
  npm ci --prefix tests/portal --no-audit --no-fund --silent
fi

# Hookdeck Outpost's TypeScript SDK, driven against outbound by
# tests/it/sdk.rs (pinned in tests/sdk/typescript/package-lock.json).
if [ ! -d tests/sdk/typescript/node_modules/@hookdeck/outpost-sdk ] \
  || [ tests/sdk/typescript/package-lock.json -nt tests/sdk/typescript/node_modules/.package-lock.json ]; then
  say "installing @hookdeck/outpost-sdk (npm ci --prefix tests/sdk/typescript)"
  npm ci --prefix tests/sdk/typescript --no-audit --no-fund --silent
fi

# tansu, a Kafka-compatible broker (crates.io; Apache Kafka's own
# distribution is not reachable from CI): tests/it/helpers/kafka.rs starts
# brokers from the binary. Built once per machine into its own root and
# target folder, so later runs find it; a fresh machine builds it (the
# longest step of this script). The harness reads TANSU_BIN.
TANSU_VERSION=0.6.0
TANSU_ROOT="${TANSU_ROOT:-/var/tmp/tansu-root}"
export TANSU_BIN="$TANSU_ROOT/bin/tansu"
if ! "$TANSU_BIN" --version 2>/dev/null | grep -qF "$TANSU_VERSION"; then
  say "installing tansu $TANSU_VERSION (a first build takes 10-30 minutes)"
  started=$SECONDS
  # About 31 CPU-minutes (32 min wall on a busy 2-core machine). opt-level
  # 1 instead of 3 keeps the optimizer's share of that small: the tests need
  # a working broker, not a fast one. Still a release build.
  CARGO_TARGET_DIR=/var/tmp/target-tansu CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    cargo install tansu --version "$TANSU_VERSION" --locked \
    --no-default-features --features libsql --root "$TANSU_ROOT" --force --quiet
  say "tansu installed in $((SECONDS - started)) s"
fi

# Citus 13.2 (distributed PostgreSQL), for tests/it/citus.rs: not in
# Debian's archive, so built from the source in ../shared/vendor/citus by
# its build.sh (about 9 minutes on 2 cores, once per machine: it does
# nothing when this version is installed). Where that folder is missing the
# Citus tests say in one line that they were skipped; where Citus is built,
# OUTBOUND_REQUIRE_CITUS=1 makes them fail rather than skip.
citus_build="../shared/vendor/citus/build.sh"
if [ -f "$citus_build" ]; then
  if ! ls /usr/lib/postgresql/*/lib/citus.so >/dev/null 2>&1; then
    say "building Citus from $citus_build (about 9 minutes)"
  fi
  as_root bash "$citus_build" >/dev/null
  export OUTBOUND_REQUIRE_CITUS=1
else
  say "no $citus_build here: the Citus tests will be skipped"
fi

# The test harness starts a private cluster in $TMPDIR/outbound-test-cluster
# and leaves it running for the next run. Stopped at exit when this run
# started it (one already running may serve another run of the tests).
pg_ctl=$(printf '%s\n' /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n 1)
[ -x "$pg_ctl" ] || pg_ctl=pg_ctl
pgdata="${TMPDIR:-/tmp}/outbound-test-cluster/pg"
as_cluster_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
# The Citus tests' three nodes (tests/it/helpers/citus.rs) likewise, in
# $TMPDIR/outbound-test-citus.
citus_nodes="${TMPDIR:-/tmp}/outbound-test-citus"
running() {
  [ -f "$1/postmaster.pid" ] && as_cluster_owner "$pg_ctl" -D "$1" status >/dev/null 2>&1
}
stop() {
  if running "$1"; then
    as_cluster_owner "$pg_ctl" -D "$1" -m fast stop >/dev/null 2>&1 || true
  fi
}
to_stop=()
for data in "$pgdata" "$citus_nodes"/{coordinator,worker1,worker2}/pg; do
  running "$data" || to_stop+=("$data")
done
stop_started() {
  for data in "${to_stop[@]}"; do stop "$data"; done
}
trap stop_started EXIT

say "cargo test${*:+ $*}"
cargo test "$@"
