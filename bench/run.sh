#!/usr/bin/env bash
# Load harness: measures gatehouse against a plain reverse proxy in front of
# the same upstream, on loopback, with wrk. See bench/README.md.
#
#   bash bench/run.sh                      # 10 s per scenario, 64 connections
#   BENCH_DURATION=3 bash bench/run.sh     # shorter
#   BENCH_OUT=results.md bash bench/run.sh # also write the table to a file
#   BENCH_TRACING=1 bash bench/run.sh      # gatehouse traces, 1% sampled (off, or 1 to 100)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-1s}
CONNS=${BENCH_CONNS:-64}
THREADS=${BENCH_THREADS:-2}
HALF_CONNS=${BENCH_HALF_CONNS:-$CONNS}
ROUNDS=${BENCH_ROUNDS:-1}
WITH_GATEHOUSE=${BENCH_GATEHOUSE:-1}
ISSUER_KEY=${BENCH_ISSUER_KEY:-file}
TRACING=${BENCH_TRACING:-off}
START_TIMEOUT=${BENCH_START_TIMEOUT:-180}
OUT=${BENCH_OUT:-}

UPSTREAM_PORT=${BENCH_UPSTREAM_PORT:-9571}
BASELINE_PORT=${BENCH_BASELINE_PORT:-9572}
BASELINE_TLS_PORT=${BENCH_BASELINE_TLS_PORT:-9573}
GATEWAY_PORT=${BENCH_GATEWAY_PORT:-9580}
IDP_PORT=${BENCH_IDP_PORT:-9543}
STS_PORT=${BENCH_STS_PORT:-9544}
LAMBDA_PORT=${BENCH_LAMBDA_PORT:-9545}
DEV_UPSTREAM_PORT=${BENCH_DEV_UPSTREAM_PORT:-9546}
COLLECTOR_PORT=${BENCH_COLLECTOR_PORT:-9574}

# The addresses bench/gatehouse.yaml holds; others mean a rewritten copy.
CONFIG_UPSTREAM_PORT=9571
CONFIG_DEV_UPSTREAM_PORT=9546

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

for v in CONNS THREADS HALF_CONNS ROUNDS START_TIMEOUT UPSTREAM_PORT BASELINE_PORT BASELINE_TLS_PORT \
	GATEWAY_PORT IDP_PORT STS_PORT LAMBDA_PORT DEV_UPSTREAM_PORT COLLECTOR_PORT; do
	[[ ${!v} =~ ^[1-9][0-9]{0,5}$ ]] || die "BENCH_$v=${!v}: want a positive whole number"
	[[ $v != *_PORT || ${!v} -le 65535 ]] || die "BENCH_$v=${!v}: want a TCP port"
done
for v in DURATION WARMUP; do
	[[ ${!v} =~ ^[0-9]+[smh]?$ ]] || die "BENCH_$v=${!v}: want seconds, such as 10 or 10s (or 2m)"
done
[[ $DURATION =~ [smh]$ ]] || DURATION="${DURATION}s"
[[ $WARMUP =~ [smh]$ ]] || WARMUP="${WARMUP}s"
[[ $WITH_GATEHOUSE == 0 || $WITH_GATEHOUSE == 1 ]] || die "BENCH_GATEHOUSE=$WITH_GATEHOUSE: want 0 or 1"
[[ $ISSUER_KEY == file || $ISSUER_KEY == kms ]] || die "BENCH_ISSUER_KEY=$ISSUER_KEY: want file or kms"
[[ $TRACING == off || ($TRACING =~ ^[1-9][0-9]{0,2}$ && $TRACING -le 100) ]] || die "BENCH_TRACING=$TRACING: want off, or the percentage of requests sampled (1 to 100)"

# --- processes, and their cleanup on any exit ---------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench.XXXXXX")
PIDS=()
NAMES=()
USE_SETSID=0
command -v setsid >/dev/null && USE_SETSID=1

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	local rc=$? i pid
	trap - EXIT INT TERM
	for i in "${!PIDS[@]}"; do
		pid=${PIDS[$i]}
		if ((USE_SETSID)); then
			kill -TERM -- "-$pid" 2>/dev/null || true # its process group: function instances too
		else
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done
	for i in "${!PIDS[@]}"; do
		pid=${PIDS[$i]}
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "${NAMES[$i]} did not stop in 5 s: killing it"
			if ((USE_SETSID)); then kill -KILL -- "-$pid" 2>/dev/null || true; else kill -KILL "$pid" 2>/dev/null || true; fi
		fi
		wait "$pid" 2>/dev/null || true
	done
	if ((rc == 0)); then
		rm -rf "$TMP"
	else
		log "logs kept in $TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME COMMAND...: run COMMAND in the background, logging to
# $TMP/NAME.log, in a process group of its own when setsid is there.
start() {
	local name=$1
	shift
	if ((USE_SETSID)); then
		setsid "$@" >"$TMP/$name.log" 2>&1 </dev/null &
	else
		"$@" >"$TMP/$name.log" 2>&1 </dev/null &
	fi
	PIDS+=("$!")
	NAMES+=("$name")
}

# alive NAME: whether the started process NAME still runs.
alive() {
	local i
	for i in "${!NAMES[@]}"; do
		[[ ${NAMES[$i]} == "$1" ]] && kill -0 "${PIDS[$i]}" 2>/dev/null && return 0
	done
	return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# need_free_port PORT VAR: fail now rather than measure someone else's server.
need_free_port() {
	if port_open "$1"; then
		die "port $1 is already in use on 127.0.0.1: stop what listens there or set $2"
	fi
}

# wait_port NAME PORT: wait up to 10 s for NAME to listen on PORT.
wait_port() {
	for _ in $(seq 100); do
		port_open "$2" && return 0
		alive "$1" || {
			tail -n 20 "$TMP/$1.log" >&2
			die "$1 exited before listening on port $2"
		}
		sleep 0.1
	done
	die "$1 does not listen on port $2 after 10 s"
}

# json_field KEY FILE: a string member of the indented JSON that
# `gatehouse dev --ready-file` writes (one member per line).
json_field() {
	sed -n "s/^ *\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" "$2" | head -n 1
}

# --- tools ----------------------------------------------------------------

command -v go >/dev/null || die "go is not on PATH"
if ! command -v wrk >/dev/null; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		log "installing wrk (Debian package)"
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	else
		die "wrk is not installed: install it (Debian or Ubuntu: sudo apt-get install wrk; macOS: brew install wrk) and run again"
	fi
fi
command -v wrk >/dev/null || die "wrk could not be installed"
HAVE_CURL=0
command -v curl >/dev/null && HAVE_CURL=1

log "building the bench upstream and the baseline proxy"
go build -o "$TMP/upstream" ./bench/upstream || die "the bench upstream does not build"
go build -o "$TMP/baseline" ./bench/baseline || die "the baseline proxy does not build"
GH="$TMP/gatehouse"
if ((WITH_GATEHOUSE)); then
	log "building gatehouse"
	go build -o "$GH" ./cmd/gatehouse || die "gatehouse does not build (errors above)"
fi

# --- the configuration, checked before anything starts --------------------

CONFIG_NOTE=""
if ((WITH_GATEHOUSE)); then
	CFG="$ROOT/bench/gatehouse.yaml"
	if [[ $UPSTREAM_PORT != "$CONFIG_UPSTREAM_PORT" || $DEV_UPSTREAM_PORT != "$CONFIG_DEV_UPSTREAM_PORT" ]]; then
		# A copy with the other addresses; the function packages, relative
		# to the configuration's directory, become absolute.
		sed -e "s|http://127.0.0.1:$CONFIG_UPSTREAM_PORT\$|http://127.0.0.1:$UPSTREAM_PORT|" \
			-e "s|^\(  upstream: 127.0.0.1:\)$CONFIG_DEV_UPSTREAM_PORT|\1$DEV_UPSTREAM_PORT|" \
			-e "s|package: \.\./|package: $ROOT/|" \
			"$CFG" >"$TMP/gatehouse.yaml"
		grep -q "url: http://127.0.0.1:$UPSTREAM_PORT\$" "$TMP/gatehouse.yaml" ||
			die "could not set the bench upstream's port in a copy of bench/gatehouse.yaml"
		CFG="$TMP/gatehouse.yaml"
		CONFIG_NOTE=" (a copy with the bench upstream on port $UPSTREAM_PORT)"
	fi
	if [[ $ISSUER_KEY == kms ]]; then
		# gatehouse's issuer signs through the local KMS (an RSA 2048 key
		# behind an alias, created on first start) instead of a key file.
		[[ $CFG == "$TMP/gatehouse.yaml" ]] || sed -e "s|package: \.\./|package: $ROOT/|" "$CFG" >"$TMP/gatehouse.yaml"
		sed -i -e 's|^creds:$|creds:\n  issuer:\n    signing_key:\n      aws_kms: {key_id: alias/gatehouse-bench-issuer}|' "$TMP/gatehouse.yaml"
		printf 'secrets:\n  aws:\n    kms_endpoint: dev\n' >>"$TMP/gatehouse.yaml"
		grep -q "alias/gatehouse-bench-issuer" "$TMP/gatehouse.yaml" || die "could not set the issuer's KMS key in a copy of bench/gatehouse.yaml"
		CFG="$TMP/gatehouse.yaml"
		CONFIG_NOTE="$CONFIG_NOTE (issuer key in the local KMS)"
	fi
	if [[ $TRACING != off ]]; then
		# Traces of every request, TRACING% sampled, over OTLP/HTTP to a
		# collector on loopback (a second bench upstream, which drops them).
		[[ $CFG == "$TMP/gatehouse.yaml" ]] || sed -e "s|package: \.\./|package: $ROOT/|" "$CFG" >"$TMP/gatehouse.yaml"
		ratio=$(awk -v p="$TRACING" 'BEGIN { printf "%g", p / 100 }')
		printf 'telemetry:\n  tracing:\n    exporter: otlp_http\n    endpoint: http://127.0.0.1:%s\n    sample_ratio: %s\n' "$COLLECTOR_PORT" "$ratio" >>"$TMP/gatehouse.yaml"
		CFG="$TMP/gatehouse.yaml"
		CONFIG_NOTE="$CONFIG_NOTE (tracing, $TRACING% sampled, to an OTLP/HTTP collector on loopback)"
	fi
	if ! "$GH" dev --config "$CFG" --print-config >/dev/null 2>"$TMP/config-check.log"; then
		cat "$TMP/config-check.log" >&2
		die "gatehouse refused bench/gatehouse.yaml$CONFIG_NOTE (problems above). If they name the upstream route or authz.roles[].routes, this build of gatehouse does not support HTTP-upstream routes yet; BENCH_GATEHOUSE=0 measures only the upstream and the baseline."
	fi
fi

# --- servers --------------------------------------------------------------

ports=(UPSTREAM BASELINE BASELINE_TLS)
((WITH_GATEHOUSE)) && ports+=(GATEWAY IDP STS LAMBDA DEV_UPSTREAM)
[[ $WITH_GATEHOUSE == 1 && $TRACING != off ]] && ports+=(COLLECTOR)
for p in "${ports[@]}"; do
	port_var="${p}_PORT"
	need_free_port "${!port_var}" "BENCH_$port_var"
done
start upstream "$TMP/upstream" -listen "127.0.0.1:$UPSTREAM_PORT"
wait_port upstream "$UPSTREAM_PORT"
if [[ $WITH_GATEHOUSE == 1 && $TRACING != off ]]; then
	start collector "$TMP/upstream" -listen "127.0.0.1:$COLLECTOR_PORT"
	wait_port collector "$COLLECTOR_PORT"
fi
start baseline "$TMP/baseline" -listen "127.0.0.1:$BASELINE_PORT" -upstream "http://127.0.0.1:$UPSTREAM_PORT"
start baseline-tls "$TMP/baseline" -tls -listen "127.0.0.1:$BASELINE_TLS_PORT" -upstream "http://127.0.0.1:$UPSTREAM_PORT"
wait_port baseline "$BASELINE_PORT"
wait_port baseline-tls "$BASELINE_TLS_PORT"

GW="" TOKEN=""
if ((WITH_GATEHOUSE)); then
	log "starting gatehouse dev (builds the example functions; up to ${START_TIMEOUT}s)"
	start gatehouse "$GH" dev --config "$CFG" --state-dir "$TMP/state" --ready-file "$TMP/ready.json" \
		--idp-listen "127.0.0.1:$IDP_PORT" --sts-listen "127.0.0.1:$STS_PORT" \
		--gateway-listen "127.0.0.1:$GATEWAY_PORT" --lambda-listen "127.0.0.1:$LAMBDA_PORT" --keyvault-listen 127.0.0.1:0
	for ((i = 0; i < START_TIMEOUT * 10; i++)); do
		[[ -s $TMP/ready.json ]] && break
		alive gatehouse || {
			tail -n 30 "$TMP/gatehouse.log" >&2
			die "gatehouse dev exited during start (its log above)"
		}
		sleep 0.1
	done
	[[ -s $TMP/ready.json ]] || {
		tail -n 30 "$TMP/gatehouse.log" >&2
		die "gatehouse dev is not ready after ${START_TIMEOUT}s (BENCH_START_TIMEOUT)"
	}
	GW=$(json_field gateway "$TMP/ready.json")
	CA=$(json_field ca_file "$TMP/ready.json")
	[[ -n $GW && -n $CA ]] || die "the ready file names no gateway or CA: $(cat "$TMP/ready.json")"
	TOKEN=$("$GH" token --user alice --config "$CFG" --state-dir "$TMP/state") ||
		die "gatehouse token --user alice failed"

	if ((HAVE_CURL)); then
		# Every measured URL must answer 200 with the token and 401 without:
		# a benchmark of error responses, or of an open proxy, proves nothing.
		for path in /up/bench /whoami; do
			code=$(curl -sS -o "$TMP/check.body" -w '%{http_code}' --cacert "$CA" -H "Authorization: Bearer $TOKEN" "$GW$path") || code=000
			[[ $code == 200 ]] || die "GET $GW$path with alice's token answered $code, want 200: $(head -c 600 "$TMP/check.body" 2>/dev/null)"
			code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$CA" "$GW$path") || code=000
			[[ $code == 401 ]] || die "GET $GW$path without a token answered $code, want 401"
		done
	else
		log "curl is not installed: skipping the 200/401 checks (wrk still counts non-2xx answers)"
	fi
fi

# --- measurements ---------------------------------------------------------

# Per scenario: space-separated values, one per round.
declare -A RPS_L P50_L P99_L ERRS USED_CONNS LABEL
declare -A RPS P50 P99
ORDER=()

# measure KEY LABEL CONNS PAUSE_MS URL [HEADER]: a warm-up, then one timed
# wrk run. With PAUSE_MS > 0 each connection waits about that long between
# a response and its next request (wrk's delay hook, in report.lua).
measure() {
	local key=$1 label=$2 conns=$3 pause=$4 url=$5 threads=$THREADS
	shift 5
	local hdr=()
	if (($# > 0)); then hdr=(-H "$1"); fi
	if ((threads > conns)); then threads=$conns; fi
	log "measuring: $label ($conns connections, $DURATION${ROUNDS_NOTE:+, round $ROUND of $ROUNDS})"
	BENCH_PAUSE_MS=$pause wrk -t "$threads" -c "$conns" -d "$WARMUP" --timeout 10s -s "$ROOT/bench/report.lua" \
		"${hdr[@]}" "$url" >/dev/null
	BENCH_PAUSE_MS=$pause wrk -t "$threads" -c "$conns" -d "$DURATION" --timeout 10s --latency -s "$ROOT/bench/report.lua" \
		"${hdr[@]}" "$url" >"$TMP/wrk-$key-$ROUND.txt"
	local f="$TMP/wrk-$key-$ROUND.txt" requests rps p50 p99 es eo
	requests=$(sed -n 's/^requests=//p' "$f")
	rps=$(sed -n 's/^rps=//p' "$f")
	p50=$(sed -n 's/^p50_us=//p' "$f")
	p99=$(sed -n 's/^p99_us=//p' "$f")
	es=$(sed -n 's/^errors_status=//p' "$f")
	eo=$(sed -n 's/^errors_socket=//p' "$f")
	if [[ -z $requests || -z $rps || -z $p50 || -z $p99 ]]; then
		cat "$f" >&2
		die "$label: could not read wrk's results (above)"
	fi
	if [[ -z ${LABEL[$key]:-} ]]; then
		ORDER+=("$key")
		ERRS[$key]=0
	fi
	RPS_L[$key]="${RPS_L[$key]:-} $rps"
	P50_L[$key]="${P50_L[$key]:-} $p50"
	P99_L[$key]="${P99_L[$key]:-} $p99"
	ERRS[$key]=$((ERRS[$key] + es + eo))
	USED_CONNS[$key]=$conns
	LABEL[$key]=$label
}

# median VALUES...: the median (the mean of the middle two for an even count).
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# settle KEY...: the medians of the rounds so far.
settle() {
	local k
	for k in "$@"; do
		# shellcheck disable=SC2086 # the lists are space-separated numbers
		RPS[$k]=$(median ${RPS_L[$k]})
		# shellcheck disable=SC2086
		P50[$k]=$(median ${P50_L[$k]})
		# shellcheck disable=SC2086
		P99[$k]=$(median ${P99_L[$k]})
	done
}

ROUNDS_NOTE=""
((ROUNDS > 1)) && ROUNDS_NOTE=1
AUTH="Authorization: Bearer $TOKEN"
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
	measure direct "upstream, direct (HTTP)" "$CONNS" 0 "http://127.0.0.1:$UPSTREAM_PORT/up/bench"
	measure base_http "baseline proxy (HTTP)" "$CONNS" 0 "http://127.0.0.1:$BASELINE_PORT/up/bench"
	measure base "baseline proxy (HTTPS)" "$CONNS" 0 "https://127.0.0.1:$BASELINE_TLS_PORT/up/bench"
	if ((WITH_GATEHOUSE)); then
		measure gh_up "gatehouse → HTTP upstream (HTTPS, token)" "$CONNS" 0 "$GW/up/bench" "$AUTH"
		measure gh_fn "gatehouse → Lambda whoami (HTTPS, token)" "$CONNS" 0 "$GW/whoami" "$AUTH"
	fi
done
settle "${ORDER[@]}"

# Half load: wrk has no rate limit, so both the baseline and gatehouse are
# paced to the same offered rate, half of gatehouse's full-load rate (the
# lower of the two; without gatehouse, half of the baseline's).
HALF_REF=base
((WITH_GATEHOUSE)) && HALF_REF=gh_up
HALF_RATE=$(awk -v r="${RPS[$HALF_REF]}" 'BEGIN { printf "%.0f", r / 2 }')
((HALF_RATE > 0)) || die "no full-load rate to halve"
PAUSE_MS=$(awk -v c="$HALF_CONNS" -v r="$HALF_RATE" 'BEGIN { printf "%.1f", c * 1000 / r }')
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
	measure base_half "half load: baseline proxy (HTTPS)" "$HALF_CONNS" "$PAUSE_MS" "https://127.0.0.1:$BASELINE_TLS_PORT/up/bench"
	if ((WITH_GATEHOUSE)); then
		measure gh_up_half "half load: gatehouse → HTTP upstream" "$HALF_CONNS" "$PAUSE_MS" "$GW/up/bench" "$AUTH"
	fi
done
settle base_half
((WITH_GATEHOUSE)) && settle gh_up_half

# --- report ---------------------------------------------------------------

ms() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }
delta_ms() { awk -v a="$1" -v b="$2" 'BEGIN { d = (a - b) / 1000; printf "%s%.2f ms", (d >= 0 ? "+" : "−"), (d >= 0 ? d : -d) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else printf "n/a" }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else printf "n/a" }'; }
num() { awk -v x="$1" 'BEGIN { s = sprintf("%.0f", x); n = length(s); for (i = 1; i <= n; i++) { printf "%s", substr(s, i, 1); if (i < n && (n - i) % 3 == 0) printf "," } }'; }

# ref KEY: the run a row is compared with.
ref() {
	case $1 in
	gh_up | gh_fn) echo base ;;
	gh_up_half) echo base_half ;;
	esac
}
# full KEY: the full-load run of a half-load row.
full() {
	case $1 in
	base_half) echo base ;;
	gh_up_half) echo gh_up ;;
	esac
}

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git status --porcelain 2>/dev/null | head -n 1) ]] && commit="$commit (with uncommitted changes)"
rounds_text="one run per scenario"
((ROUNDS > 1)) && rounds_text="$ROUNDS rounds, each number the median of its rounds"

report() {
	echo "## gatehouse load benchmark"
	echo
	echo "- $(date -u +%Y-%m-%dT%H:%MZ), commit $commit, $(go env GOVERSION), $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2)"
	echo "- machine: $(nproc) CPUs${cpu_model:+ ($cpu_model)}, $(uname -s)/$(uname -m); wrk runs on the same CPUs as the servers"
	echo "- wrk: $THREADS threads, $CONNS connections, $DURATION per scenario after a $WARMUP warm-up ($rounds_text), keep-alive, loopback; GET of a 64-byte JSON answer"
	if ((WITH_GATEHOUSE)); then
		echo "- gatehouse: \`gatehouse dev --config bench/gatehouse.yaml\`$CONFIG_NOTE; TLS with the development CA (ECDSA P-256); alice's token, verified once, then from the verified-token cache; a policy decision per request; **audit mode async** (SQLite, batched off the request path)"
	else
		echo "- gatehouse: not measured (BENCH_GATEHOUSE=0)"
	fi
	echo "- baseline: \`bench/baseline\`, net/http/httputil.ReverseProxy with no authentication and 1024 idle upstream connections per host, over HTTPS with a self-signed ECDSA P-256 certificate like the gateway's, and once over plain HTTP"
	echo
	echo "| scenario | conns | requests/s | p50 | p99 | errors | throughput vs baseline | added p50 | added p99 |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	local k r f label thr
	for k in "${ORDER[@]}"; do
		r=$(ref "$k")
		f=$(full "$k")
		label=${LABEL[$k]}
		if [[ -n $f ]]; then label="$label, $(pct "${RPS[$k]}" "${RPS[$f]}") of its full-load rate"; fi
		if [[ -n $r && -n ${RPS[$r]:-} ]]; then
			# Paced rows run at the same offered rate: their ratio says nothing.
			thr=$(ratio "${RPS[$k]}" "${RPS[$r]}")
			if [[ -n $f ]]; then thr="— (paced)"; fi
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "${USED_CONNS[$k]}" "$(num "${RPS[$k]}")" \
				"$(ms "${P50[$k]}")" "$(ms "${P99[$k]}")" "${ERRS[$k]}" "$thr" \
				"$(delta_ms "${P50[$k]}" "${P50[$r]}")" "$(delta_ms "${P99[$k]}" "${P99[$r]}")"
		else
			printf '| %s | %s | %s | %s | %s | %s | | | |\n' "$label" "${USED_CONNS[$k]}" "$(num "${RPS[$k]}")" \
				"$(ms "${P50[$k]}")" "$(ms "${P99[$k]}")" "${ERRS[$k]}"
		fi
	done
	echo
	echo "- Each gatehouse row is compared with the baseline proxy over HTTPS measured in the same run: its throughput as a ratio of the baseline's, and the latency it adds at p50 and p99."
	echo "- Half load: wrk has no rate limit (it keeps every connection busy), so both were paced to the same offered rate of $(num "$HALF_RATE") requests/s, half of $([[ $HALF_REF == gh_up ]] && echo "gatehouse's" || echo "the baseline's") full-load rate: $HALF_CONNS connections, each pausing a random 0 to $(awk -v p="$PAUSE_MS" 'BEGIN { printf "%.0f", 2 * p }') ms (mean $PAUSE_MS ms) between a response and its next request. Each half-load row says what share of its own full-load rate it reached."
	echo "- p50 and p99 are wrk's latency percentiles; errors are non-2xx answers, socket errors and timeouts (10 s)."
}

report | tee "$TMP/report.md"
if [[ -n $OUT ]]; then cp "$TMP/report.md" "$OUT"; fi

failed=0
for k in "${ORDER[@]}"; do
	if ((ERRS[$k] != 0)); then
		log "${LABEL[$k]}: ${ERRS[$k]} requests failed (the errors column): its numbers do not measure successful requests"
		failed=1
	fi
done
exit "$failed"
