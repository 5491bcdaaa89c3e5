#!/usr/bin/env bash
# scripts/test.sh [pytest args] - the project's test command (README, .ci/run):
# installs and starts Docker, PostgreSQL and Kafka on 127.0.0.1 (scripts/stack.sh),
# installs the project with its test extra into .venv, then runs the whole suite
# against the real services. Fault and fuzz sizes take their CI defaults unless
# ZUN_FAULT_COMMANDS / ZUN_FAULT_CONTAINERS / ZUN_SCHEMATHESIS_EXAMPLES say otherwise.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
scripts/stack.sh up
scripts/venv.sh test
eval "$(scripts/stack.sh env)"
exec .venv/bin/pytest "$@"
