#!/usr/bin/env bash
# fuzz.sh: builds and runs the libFuzzer targets in test/fuzz/ (`make fuzz`,
# and briefly in `make test` as `fuzz.sh --quick`).
#
#   scripts/fuzz.sh [--quick] [TARGET...]
#
# A target is test/fuzz/fuzz_<name>.c defining LLVMFuzzerTestOneInput. It
# says in comment lines what it links (several lines of each may be given):
#   fuzz-sources: src/core/router.c ...   the modules it links
#                                        (@resource-files: every
#                                        src/handlers/*.c that defines a
#                                        `const struct resource`, and
#                                        src/handlers/resources.c)
#   fuzz-pkgs: json-c libpq ...          pkg-config packages
#   fuzz-max-len: 65536                  largest input (default 4096)
# Each is built with clang -fsanitize=fuzzer,address,undefined (UBSan
# aborts) into build/fuzz/, then run for FUZZ_SECONDS over a working corpus
# build/fuzz/corpus/<name>/ seeded from the committed seeds in
# test/fuzz/corpus/<name>/ (new inputs never land in the repository).
# Crashes, leaks, timeouts and out-of-memory inputs are written to
# build/fuzz/artifacts/<name>/ and printed; reproduce one with
#   build/fuzz/fuzz_<name> build/fuzz/artifacts/<name>/crash-...
#
# Environment:
#   FUZZ_SECONDS  seconds per target (600; --quick: 5)
#   FUZZ_SEED     libFuzzer seed (--quick: 1, so make test repeats itself)
#   FUZZ_CC       the compiler (clang, else clang-14)
#   FUZZ_JOBS     targets run at once (1)
#
# Prints per target its executions, rate, corpus size and crashes, and as
# the last line "fuzz: N passed, M failed" (each target is one test: it
# passes when it builds, runs its time and finds nothing). Exit status 1
# when a target failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

QUICK=0
TARGETS=()
for a in "$@"; do
	case $a in
	--quick) QUICK=1
		# make test: the same mutations every run (a fixed seed), so that a
		# red CI means a change broke something; `make fuzz` explores freely
		: "${FUZZ_SEED:=1}" ;;
	-h | --help)
		sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) TARGETS+=("$a") ;;
	esac
done
if [[ -z ${FUZZ_SECONDS:-} ]]; then
	if ((QUICK)); then FUZZ_SECONDS=5; else FUZZ_SECONDS=600; fi
fi
[[ $FUZZ_SECONDS =~ ^[0-9]+$ && $FUZZ_SECONDS -ge 1 ]] || {
	echo "fuzz.sh: FUZZ_SECONDS must be a whole number >= 1" >&2
	exit 2
}
JOBS=${FUZZ_JOBS:-1}
[[ $JOBS =~ ^[0-9]+$ && $JOBS -ge 1 ]] || JOBS=1

CC=${FUZZ_CC:-}
if [[ -z $CC ]]; then
	for c in clang clang-14; do
		command -v "$c" >/dev/null 2>&1 && {
			CC=$c
			break
		}
	done
fi

OUT=build/fuzz
mkdir -p "$OUT"

if ((${#TARGETS[@]} == 0)); then
	for f in test/fuzz/fuzz_*.c; do
		[[ -f $f ]] || continue
		n=$(basename "$f" .c)
		TARGETS+=("${n#fuzz_}")
	done
fi
if ((${#TARGETS[@]} == 0)); then
	echo "fuzz.sh: no targets in test/fuzz/" >&2
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi

# directive FILE NAME: the words of every "NAME:" comment line.
directive() {
	sed -nE "s/^[ /*]*$2:[[:space:]]*(.*)\$/\1/p" "$1" | sed 's#\*/##' | tr '\n' ' '
}

resource_files() {
	echo src/handlers/resources.c
	grep -l '^const struct resource [a-z_]*_resource = {' src/handlers/*.c 2>/dev/null
}

# build NAME: compiles build/fuzz/fuzz_NAME unless it is newer than its inputs.
build() {
	local name=$1 src=test/fuzz/fuzz_$1.c bin=$OUT/fuzz_$1 srcs=() pkgs w
	for w in $(directive "$src" fuzz-sources); do
		if [[ $w == @resource-files ]]; then
			mapfile -t -O "${#srcs[@]}" srcs < <(resource_files)
		else
			srcs+=("$w")
		fi
	done
	pkgs=$(directive "$src" fuzz-pkgs)
	if ((${#srcs[@]} == 0)); then
		echo "  $src has no 'fuzz-sources:' line"
		return 1
	fi
	for w in "${srcs[@]}"; do
		[[ -f $w ]] || {
			echo "  $src names $w, which does not exist"
			return 1
		}
	done
	local fresh=1 f
	if [[ -x $bin ]]; then
		for f in "$src" "${srcs[@]}" src/core/*.h src/handlers/*.h test/fuzz/*.h "$0"; do
			[[ -f $f && $f -nt $bin ]] && fresh=0 && break
		done
	else
		fresh=0
	fi
	((fresh)) && return 0
	local cflags='' libs=''
	if [[ -n ${pkgs// /} ]]; then
		# shellcheck disable=SC2086 # word lists
		cflags=$(pkg-config --cflags $pkgs 2>/dev/null) || {
			echo "  pkg-config does not know: $pkgs"
			return 1
		}
		# shellcheck disable=SC2086
		libs=$(pkg-config --libs $pkgs 2>/dev/null)
	fi
	# shellcheck disable=SC2086
	"$CC" -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Isrc $cflags -o "$bin.tmp" "$src" "${srcs[@]}" $libs -lpthread -lm \
		>"$OUT/fuzz_$name.build.log" 2>&1 || {
		echo "  build failed:"
		sed 's/^/    | /' "$OUT/fuzz_$name.build.log" | head -40
		return 1
	}
	mv "$bin.tmp" "$bin"
}

# run NAME: runs one target; prints its figures; 0 when it found nothing.
run_target() {
	local name=$1 src=test/fuzz/fuzz_$1.c
	local bin=$OUT/fuzz_$name work=$OUT/corpus/$name seeds=test/fuzz/corpus/$name
	local art=$OUT/artifacts/$name log=$OUT/fuzz_$name.log
	echo "== fuzz $name"
	if [[ ! -f $src ]]; then
		echo "FAIL $name: no $src"
		return 1
	fi
	if [[ -z $CC ]]; then
		echo "FAIL $name: no clang (install clang and libclang-rt-14-dev: scripts/deps.sh)"
		return 1
	fi
	build "$name" || {
		echo "FAIL $name: does not build"
		return 1
	}
	mkdir -p "$work" "$art"
	local maxlen
	maxlen=$(directive "$src" fuzz-max-len | awk '{ print $1 }')
	[[ $maxlen =~ ^[0-9]+$ ]] || maxlen=4096
	local before
	before=$(find "$art" -type f | wc -l)
	local dirs=("$work")
	[[ -d $seeds ]] && dirs+=("$seeds")
	local t0=$SECONDS rc
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1} \
		UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		timeout --kill-after=30 $((FUZZ_SECONDS + 120)) \
		"$bin" -max_total_time="$FUZZ_SECONDS" -max_len="$maxlen" -timeout=25 -rss_limit_mb=2560 \
		${FUZZ_SEED:+-seed="$FUZZ_SEED"} \
		-print_final_stats=1 -artifact_prefix="$art/" "${dirs[@]}" >"$log" 2>&1
	rc=$?
	local took=$((SECONDS - t0))
	local execs rate units crashes
	execs=$(sed -nE 's/^stat::number_of_executed_units:[[:space:]]*([0-9]+).*/\1/p' "$log" | tail -n1)
	rate=$(sed -nE 's/^stat::average_exec_per_sec:[[:space:]]*([0-9]+).*/\1/p' "$log" | tail -n1)
	units=$(find "$work" -type f | wc -l)
	crashes=$(($(find "$art" -type f | wc -l) - before))
	printf '%s: %s executions in %d s (%s/s), corpus %d inputs, %d crashes\n' \
		"$name" "${execs:-?}" "$took" "${rate:-?}" "$units" "$crashes"
	if ((rc == 0 && crashes == 0)) && [[ -n $execs ]]; then
		echo "ok   fuzz $name"
		return 0
	fi
	local why="exit code $rc"
	((rc == 124 || rc == 137)) && why="did not stop in time"
	echo "FAIL $name: $why, $crashes new artifact(s)"
	find "$art" -type f -newer "$bin" -printf '    artifact: %p\n' 2>/dev/null | head -5
	grep -E "^fuzz_|ERROR: |runtime error|SUMMARY|^    #[0-9]+ .* in [a-z_]+ (/|src|test)" "$log" |
		head -40 | sed 's/^/    | /'
	echo "    (full log: $log)"
	return 1
}

PASSED=0
FAILED=0
if ((JOBS <= 1)); then
	for t in "${TARGETS[@]}"; do
		if run_target "$t"; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
	done
else
	# builds first (sequential), then the runs in parallel
	for t in "${TARGETS[@]}"; do [[ -f test/fuzz/fuzz_$t.c && -n $CC ]] && build "$t" >/dev/null 2>&1; done
	pids=()
	for t in "${TARGETS[@]}"; do
		while (($(jobs -rp | wc -l) >= JOBS)); do sleep 1; done
		(run_target "$t" >"$OUT/fuzz_$t.report" 2>&1) &
		pids+=("$!")
	done
	i=0
	for t in "${TARGETS[@]}"; do
		if wait "${pids[$i]}"; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
		cat "$OUT/fuzz_$t.report"
		i=$((i + 1))
	done
fi

echo "fuzz: $PASSED passed, $FAILED failed"
((FAILED == 0))
