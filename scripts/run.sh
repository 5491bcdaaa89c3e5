#!/usr/bin/env bash
# scripts/run.sh - run the service with its embedded defaults on http://127.0.0.1:9517:
# starts the Docker engine if needed (scripts/stack.sh start docker), installs the project
# into .venv, then `zun-cqrs up` (embedded log and SQLite under .data/; no Kafka, no
# PostgreSQL). Set ZUN_KAFKA_BOOTSTRAP / ZUN_DATABASE_URL to use them instead.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
scripts/stack.sh start docker
scripts/venv.sh
export ZUN_DOCKER_HOST="${ZUN_DOCKER_HOST:-unix:///var/run/docker.sock}"
exec .venv/bin/zun-cqrs up
