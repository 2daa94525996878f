#!/usr/bin/env bash
# Load figures for the web tier: gunicorn (2 workers, production settings, PostgreSQL, Redis)
# measured by wrk on loopback -- the home page, a blog post and a signed-in dashboard page, with
# the cache on and then off (CACHE_BACKEND=dummy), in one run. Prints a table.
#
#   make bench-web
#   BENCH_DURATION=20s BENCH_PORT=8106 scripts/bench-web.sh
#
# Needs PostgreSQL and Redis (the same ones as CI). It recreates its own database
# (campaigns_web_bench) and empties its own Redis database (6); nothing else is touched.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PY:-.venv/bin/python}"
GUNICORN="${GUNICORN:-.venv/bin/gunicorn}"
BENCH_DATABASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/campaigns_web_bench}"
BENCH_REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:6379/6}"
PORT="${BENCH_PORT:-8106}"
CONNECTIONS="${BENCH_CONNECTIONS:-50}"
DURATION="${BENCH_DURATION:-10s}"
WARMUP="${BENCH_WARMUP:-3s}"
WORKERS=2
BASE="http://127.0.0.1:${PORT}"
PAGES=("home /" "blog-post /blog/demo-1/" "dashboard /dashboard/")

if ! command -v wrk >/dev/null 2>&1; then
  echo "Installing wrk (the load generator)..."
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi
if ! pg_isready -q -d "${BENCH_DATABASE_URL%/*}/postgres"; then
  echo "PostgreSQL is not reachable at ${BENCH_DATABASE_URL%/*} (set BENCH_DATABASE_URL)." >&2
  exit 1
fi
if ! redis-cli -u "$BENCH_REDIS_URL" ping >/dev/null 2>&1; then
  echo "Redis is not reachable at $BENCH_REDIS_URL (set BENCH_REDIS_URL)." >&2
  exit 1
fi

WORK="$(mktemp -d -t bench-web-XXXXXX)"
GUNICORN_PID=""
cleanup() {
  if [ -n "$GUNICORN_PID" ]; then kill "$GUNICORN_PID" 2>/dev/null || true; wait "$GUNICORN_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export DJANGO_SETTINGS_MODULE=site_project.settings.production
SECRET_KEY="bench-$("$PY" -c 'import secrets; print(secrets.token_urlsafe(60))')"
export SECRET_KEY
export ALLOWED_HOSTS=127.0.0.1,localhost SECURE_SSL_REDIRECT=false
export DATABASE_URL="$BENCH_DATABASE_URL" REDIS_URL="$BENCH_REDIS_URL"
export STATIC_ROOT="$WORK/static" MEDIA_ROOT="$WORK/media" LOG_DIR="$WORK/log" LOG_LEVEL=WARNING
export EMAIL_HOST="" CACHE_BACKEND=""

echo "== Preparing: database $(basename "$BENCH_DATABASE_URL"), Redis $BENCH_REDIS_URL, static files"
DB_NAME="$(basename "$BENCH_DATABASE_URL")"
psql -q "${BENCH_DATABASE_URL%/*}/postgres" -c "DROP DATABASE IF EXISTS \"$DB_NAME\"" -c "CREATE DATABASE \"$DB_NAME\"" >/dev/null
redis-cli -u "$BENCH_REDIS_URL" flushdb >/dev/null
"$PY" manage.py migrate --noinput --verbosity 0
"$PY" manage.py seed_demo >/dev/null
"$PY" manage.py collectstatic --noinput --verbosity 0

# wrk counts only connection errors and 4xx/5xx; anything but a 200 (say, a redirect to the
# sign-in page) counts as an error here, and the percentiles are read exactly.
cat >"$WORK/report.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) not_ok = 0 end
function response(status, headers, body) if status ~= 200 then not_ok = not_ok + 1 end end
function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("not_ok") end
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), bad + e.connect + e.read + e.write + e.timeout))
end
LUA

start_server() {
  "$GUNICORN" site_project.wsgi:application --workers "$WORKERS" --bind "127.0.0.1:$PORT" \
    --log-level warning >"$WORK/gunicorn.log" 2>&1 &
  GUNICORN_PID=$!
  for _ in $(seq 100); do
    curl -fs -o /dev/null "$BASE/" && return 0
    sleep 0.2
  done
  echo "gunicorn did not start:" >&2; cat "$WORK/gunicorn.log" >&2; exit 1
}

stop_server() {
  kill "$GUNICORN_PID"; wait "$GUNICORN_PID" 2>/dev/null || true; GUNICORN_PID=""
}

session_cookie() {
  "$PY" manage.py shell --verbosity 0 -c "
from django.conf import settings
from django.test import Client
from users.models import User
client = Client()
client.force_login(User.objects.get(email='user@example.com'))
print(settings.SESSION_COOKIE_NAME + '=' + client.cookies[settings.SESSION_COOKIE_NAME].value)
" | tail -1
}

RESULTS="$WORK/results"
: >"$RESULTS"
measure() {  # cache-label page-name path [cookie]
  local label=$1 name=$2 path=$3 cookie=${4:-}
  local args=(--threads 2 --connections "$CONNECTIONS" --timeout 10s --script "$WORK/report.lua")
  [ -n "$cookie" ] && args+=(--header "Cookie: $cookie")
  wrk "${args[@]}" --duration "$WARMUP" "$BASE$path" >/dev/null
  local line
  line=$(wrk "${args[@]}" --duration "$DURATION" "$BASE$path" | grep '^RESULT')
  echo "$name $label ${line#RESULT }" >>"$RESULTS"
}

for label in on off; do
  if [ "$label" = off ]; then export CACHE_BACKEND=dummy; else export CACHE_BACKEND=""; fi
  echo "== Cache $label: gunicorn --workers $WORKERS on $BASE, wrk $CONNECTIONS connections, $DURATION per page"
  start_server
  cookie="$(session_cookie)"
  status=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "$BASE/dashboard/")
  [ "$status" = 200 ] || { echo "The signed-in dashboard answered $status, not 200." >&2; exit 1; }
  for page in "${PAGES[@]}"; do
    read -r name path <<<"$page"
    if [ "$name" = dashboard ]; then measure "$label" "$name" "$path" "$cookie"; else measure "$label" "$name" "$path"; fi
  done
  stop_server
done

echo
awk -v conns="$CONNECTIONS" '
  { rate = $3 / ($4 / 1e6); rates[$1 " " $2] = rate
    printf "| %-9s | %-5s | %8.0f | %7.1f | %7.1f | %6d | %8d |\n", $1, $2, rate, $5 / 1000, $6 / 1000, $7, $3 }
  BEGIN {
    printf "| %-9s | %-5s | %8s | %7s | %7s | %6s | %8s |\n", "page", "cache", "req/s", "p50 ms", "p99 ms", "errors", "requests"
    print  "|-----------|-------|----------|---------|---------|--------|----------|" }
  END {
    ratio = rates["home on"] / rates["home off"]
    printf "\nCached home page: %.1fx its uncached rate (target >= 5x); %d concurrent connections.\n", ratio, conns }
' "$RESULTS"
