#!/usr/bin/env bash
# run.sh FUZZER SEED_DIR - runs a libFuzzer target for $FUZZ_SECONDS (default 20) as one TAP test.
# New inputs go to a temporary directory: a test run never writes into the source tree.
set -u
fuzzer=$1
seeds=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "1..1"
if "$fuzzer" -max_total_time="${FUZZ_SECONDS:-20}" -timeout=5 -print_final_stats=1 \
	-artifact_prefix="$work/" "$work" "$seeds" >"$work/log" 2>&1; then
	echo "ok 1 - $(basename "$fuzzer") ran ${FUZZ_SECONDS:-20}s: $(grep -c . <(ls "$work")) new inputs"
else
	sed 's/^/# /' "$work/log" | tail -40
	echo "not ok 1 - $(basename "$fuzzer") found a failing input"
	exit 1
fi
