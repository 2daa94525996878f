#!/usr/bin/env bash
# Load figures for the web tier: gunicorn (2 workers, production settings, PostgreSQL, Redis)
# measured on loopback -- the home page, a blog post and a signed-in dashboard page, with the
# cache on and then off, in one run. Each measurement is a fixed number of requests
# (BENCH_REQUESTS per page, after BENCH_WARMUP requests that are not counted) over 50
# concurrent connections. Prints a table (requests/s, p50/p99 latency, errors) and one line per
# target, and exits non-zero when a target is not met:
#   - the cached home page serves at least 5x its uncached rate;
#   - no errors under 50 concurrent connections (an error is a failed request or any answer but
#     a 200: redirects are not followed, so a lost session shows up here).
#
# "Cache off" is CACHE_BACKEND=dummy: the default cache is a dummy, so the site's page, fragment
# and dashboard caches and Wagtail's own are off; sessions stay in Redis through their separate
# "sessions" cache alias, so the signed-in dashboard is measured with the same session store.
#
#   make bench-web
#   BENCH_REQUESTS=20000 BENCH_PORT=8106 scripts/bench-web.sh
#
# The load tool is hey (Debian's package, installed with apt-get when missing) rather than wrk:
# hey sends exactly -n requests and writes one CSV row per response (time, status), from which
# the percentiles are read exactly; wrk only runs for a duration, and stopping its threads after
# a count leaves its main thread asleep until --duration ends, so its rate would be wrong.
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
REQUESTS="${BENCH_REQUESTS:-5000}"
WARMUP="${BENCH_WARMUP:-500}"
WORKERS=2
TARGET_RATIO=5
BASE="http://127.0.0.1:${PORT}"
PAGES=("home /" "blog-post /blog/demo-1/" "dashboard /dashboard/")

# hey gives each connection an equal share (-n / -c requests) and drops any remainder.
for var in CONNECTIONS REQUESTS WARMUP; do
  value="${!var}"
  if ! [[ "$value" =~ ^[0-9]+$ ]]; then
    echo "BENCH_$var must be a whole number, not '$value'." >&2
    exit 2
  fi
done
if [ "$CONNECTIONS" -lt 1 ] || [ "$REQUESTS" -lt "$CONNECTIONS" ] || [ $((REQUESTS % CONNECTIONS)) -ne 0 ] \
  || [ $((WARMUP % CONNECTIONS)) -ne 0 ]; then
  echo "BENCH_REQUESTS ($REQUESTS) must be a multiple of BENCH_CONNECTIONS ($CONNECTIONS), at least" \
    "one request per connection; BENCH_WARMUP ($WARMUP) a multiple too, or 0." >&2
  exit 2
fi

if ! command -v hey >/dev/null 2>&1; then
  echo "Installing hey (the load generator)..."
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  # `env` inside sudo: sudo drops variables set in front of it, and apt would ask questions.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hey >/dev/null
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
PGOPTIONS="-c client_min_messages=warning" psql -q "${BENCH_DATABASE_URL%/*}/postgres" -c "DROP DATABASE IF EXISTS \"$DB_NAME\"" -c "CREATE DATABASE \"$DB_NAME\"" >/dev/null
redis-cli -u "$BENCH_REDIS_URL" flushdb >/dev/null
"$PY" manage.py migrate --noinput --verbosity 0
"$PY" manage.py seed_demo >/dev/null
"$PY" manage.py collectstatic --noinput --verbosity 0

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

# hey: -n requests over -c connections, each waiting for its answer before sending the next;
# redirects are answers (not followed); one CSV row per answer: seconds taken, status, and when
# it was sent (seconds from the start). Failed requests (refused, reset, timed out) get no row.
load() {  # requests url output [cookie]
  local args=(-n "$1" -c "$CONNECTIONS" -t 10 -disable-redirects -o csv)
  [ -n "${4:-}" ] && args+=(-H "Cookie: $4")
  hey "${args[@]}" "$2" >"$3"
}

RESULTS="$WORK/results"
: >"$RESULTS"
measure() {  # cache-label page-name path [cookie]
  local label=$1 name=$2 path=$3 cookie=${4:-}
  [ "$WARMUP" -gt 0 ] && load "$WARMUP" "$BASE$path" /dev/null "$cookie"
  local csv="$WORK/$name-$label.csv"
  load "$REQUESTS" "$BASE$path" "$csv" "$cookie"
  # Percentiles by nearest rank over every answer; the rate is the requests sent divided by the
  # time from the first request to the last answer; errors are the requests without a 200.
  tail -n +2 "$csv" | sort -t, -k1,1g | awk -F, -v name="$name" -v label="$label" -v n="$REQUESTS" '
    { took[NR] = $1; if ($7 == 200) ok++; if ($8 + $1 > elapsed) elapsed = $8 + $1 }
    function pct(p) { return NR ? took[int((p * NR + 99) / 100)] * 1000 : 0 }
    END { printf "%s %s %d %.1f %.1f %.1f %d\n", name, label, n, elapsed ? n / elapsed : 0,
                 pct(50), pct(99), n - ok }' >>"$RESULTS"
}

for label in on off; do
  if [ "$label" = off ]; then export CACHE_BACKEND=dummy; else export CACHE_BACKEND=""; fi
  echo "== Cache $label: gunicorn --workers $WORKERS on $BASE; hey, $CONNECTIONS connections," \
    "$REQUESTS requests per page after $WARMUP to warm up"
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
status=0
awk -v conns="$CONNECTIONS" -v target="$TARGET_RATIO" '
  BEGIN {
    printf "| %-9s | %-5s | %8s | %7s | %7s | %6s | %8s |\n", "page", "cache", "req/s", "p50 ms", "p99 ms", "errors", "requests"
    print  "|-----------|-------|----------|---------|---------|--------|----------|" }
  { rates[$1 " " $2] = $4; errors += $7; requests += $3
    printf "| %-9s | %-5s | %8.0f | %7.1f | %7.1f | %6d | %8d |\n", $1, $2, $4, $5, $6, $7, $3 }
  END {
    print  ""
    print  "Cache off = CACHE_BACKEND=dummy: the default cache (the site'\''s page, fragment and dashboard"
    print  "caches, Wagtail'\''s own) is a dummy; sessions stay in Redis (the \"sessions\" cache alias)."
    print  "Errors: failed requests and any answer but a 200 (redirects are not followed)."
    print  ""
    ratio = rates["home off"] > 0 ? rates["home on"] / rates["home off"] : 0
    ratio_met = ratio >= target
    errors_met = errors == 0
    printf "Target: cached home page >= %dx its uncached rate: %.1fx -- %s\n", target, ratio,
      ratio_met ? "MET" : "NOT MET"
    printf "Target: no errors under %d concurrent connections: %d in %d requests -- %s\n", conns,
      errors, requests, errors_met ? "MET" : "NOT MET"
    exit !(ratio_met && errors_met) }
' "$RESULTS" || status=$?
exit "$status"
