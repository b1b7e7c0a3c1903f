#!/usr/bin/env bash
# Proves the console script works from the built wheel, as a user would install it: builds the
# wheel, installs it into a clean virtual environment (dependencies from the package index), then
# runs `stats-gateway --version`, `export-schema` and `serve --demo` from there, queries the server
# and stops it with SIGTERM. One line per step; exits non-zero at the first failure.
#
#   bash deploy/smoke-wheel.sh          (PYTHON=python3.12 bash deploy/smoke-wheel.sh for another one)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/smoke-wheel.XXXXXX")"
server_pid=""

step() { printf 'smoke-wheel: %s\n' "$*"; }
fail() {
  printf 'smoke-wheel: FAILED: %s\n' "$*" >&2
  if [[ -s "$tmp/server.log" ]]; then
    printf 'smoke-wheel: last lines of the server log:\n' >&2
    tail -n 20 "$tmp/server.log" >&2
  fi
  exit 1
}
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

step "building the wheel"
# From a copy of the source tree: the build leaves nothing in the repository, and no stale
# build/ directory of an earlier build can slip files into the wheel.
mkdir "$tmp/src"
tar -C "$repo" -cf - \
  --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist --exclude='*.egg-info' \
  --exclude=node_modules --exclude=__pycache__ --exclude=.mypy_cache --exclude=.ruff_cache \
  --exclude=.pytest_cache --exclude=.hypothesis --exclude=./.env . \
  | tar -C "$tmp/src" -xf - || fail "copying the source tree"
(cd "$tmp/src" && "$python" -m pip wheel --quiet --disable-pip-version-check --no-deps . -w "$tmp/dist") \
  || fail "pip wheel"
wheels=("$tmp"/dist/stats_gateway-*.whl)
[[ ${#wheels[@]} -eq 1 && -f "${wheels[0]}" ]] || fail "expected one stats_gateway wheel in $tmp/dist"
wheel="${wheels[0]}"
version="$(basename "$wheel" | cut -d- -f2)"
step "built $(basename "$wheel")"

step "creating a clean virtual environment"
"$python" -m venv "$tmp/venv" || fail "venv"
venv_python="$tmp/venv/bin/python"
gateway="$tmp/venv/bin/stats-gateway"

step "installing the wheel and its dependencies"
"$venv_python" -m pip install --quiet --disable-pip-version-check "$wheel" || fail "pip install"
[[ -x "$gateway" ]] || fail "the wheel installed no stats-gateway console script"

# Run from an empty directory: nothing of the source tree (nor a .env file) can be picked up.
mkdir "$tmp/run"
cd "$tmp/run"

step "stats-gateway --version"
out="$("$gateway" --version)" || fail "stats-gateway --version exited non-zero"
[[ "$out" == *"$version"* ]] || fail "stats-gateway --version printed '$out', not the wheel's version $version"
step "  $out"

step "stats-gateway export-schema"
"$gateway" export-schema >"$tmp/schema.graphql" || fail "stats-gateway export-schema exited non-zero"
first="$(head -n 1 "$tmp/schema.graphql")"
[[ -n "$first" ]] || fail "export-schema printed nothing"
step "  $first"

port="$("$venv_python" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()')"
base="http://127.0.0.1:$port"

step "stats-gateway serve --demo --port $port"
"$gateway" serve --demo --host 127.0.0.1 --port "$port" >"$tmp/server.log" 2>&1 &
server_pid=$!

ready=""
for _ in $(seq 1 120); do
  kill -0 "$server_pid" 2>/dev/null || fail "the server exited before answering /healthz"
  if "$venv_python" - "$base/healthz" <<'PY' 2>/dev/null; then
import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1], timeout=1) as response:
    sys.exit(0 if response.status == 200 else 1)
PY
    ready=yes
    break
  fi
  sleep 0.25
done
[[ -n "$ready" ]] || fail "/healthz did not answer 200 within 120 attempts"
step "  /healthz answered 200"

step "POST /graphql { __typename }"
"$venv_python" - "$base/graphql" <<'PY' || fail "the GraphQL query got a wrong answer"
import json
import sys
import urllib.request

request = urllib.request.Request(
    sys.argv[1],
    data=json.dumps({"query": "{ __typename }"}).encode(),
    headers={"Content-Type": "application/json", "Accept": "application/json"},
    method="POST",
)
with urllib.request.urlopen(request, timeout=10) as response:
    body = json.load(response)
if body.get("data") != {"__typename": "Query"} or body.get("errors"):
    print(f"smoke-wheel: unexpected answer: {body}", file=sys.stderr)
    sys.exit(1)
print('smoke-wheel:   {"data": {"__typename": "Query"}}')
PY

step "SIGTERM"
kill -TERM "$server_pid"
stopped=""
for _ in $(seq 1 150); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    stopped=yes
    break
  fi
  sleep 0.1
done
[[ -n "$stopped" ]] || fail "the server was still running 15 s after SIGTERM"
status=0
wait "$server_pid" || status=$?
server_pid=""
# 143 = 128 + SIGTERM: uvicorn shuts down gracefully, then re-raises the signal it caught.
[[ "$status" -eq 0 || "$status" -eq 143 ]] || fail "the server exited with status $status after SIGTERM"
step "  stopped within 15 s, exit status $status"

step "OK"
