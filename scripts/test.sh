#!/usr/bin/env bash
# The test command: starts private PostgreSQL and MariaDB servers
# (scripts/test-env.sh), runs every test against them, stops them.
#   scripts/test.sh [cargo test args...]
set -euo pipefail
cd "$(dirname "$0")/.."
env_out=$(scripts/test-env.sh start)
eval "$env_out"
trap 'scripts/test-env.sh stop "$INGEST_TEST_DIR"' EXIT
cargo build --quiet
cargo test "$@"
