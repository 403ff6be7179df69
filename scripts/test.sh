#!/usr/bin/env bash
# test.sh: runs every test suite and ends with one line "N passed, M failed".
#
# Called by `make test`, `make asan` and `make valgrind` with
#   BIN=<server binary>  UNIT_DIR=<dir of cmocka binaries test_*>
#   and optionally SANITIZED=1 (ASan/UBSan build) or VALGRIND=1.
# Exit status: 1 when a test failed or a suite could not run, else 0.
#
# Adding a suite: a command that prints, as one of its lines (the last one
# counts), "<name>: N passed, M failed" and exits non-zero on failure; then
#   run_suite <name> <command...>
# below. A suite that prints no such line counts as one failure.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1

: "${BIN:=./open-event-server}"
: "${UNIT_DIR:=build/release/test}"
export BIN UNIT_DIR

PASSED=0
FAILED=0
BROKEN=()

# add_counts <passed> <failed>
add_counts() {
	PASSED=$((PASSED + $1))
	FAILED=$((FAILED + $2))
}

# broken <why>: a suite that could not run counts as one failure.
broken() {
	echo "test.sh: $*" >&2
	BROKEN+=("$*")
	add_counts 0 1
}

# Unit tests: every $UNIT_DIR/test_* executable. cmocka prints its summary on
# stderr; a binary can hold several groups, so every summary line counts. A
# binary that exits non-zero without a FAILED line (a crash, a sanitizer
# report) counts as one failure.
run_unit() {
	local bin out rc p f np nf
	local up=0 uf=0
	shopt -s nullglob
	local bins=("$UNIT_DIR"/test_*)
	shopt -u nullglob
	if ((${#bins[@]} == 0)); then
		echo "unit: no test binaries in $UNIT_DIR"
	fi
	for bin in "${bins[@]}"; do
		[[ -f $bin && -x $bin ]] || continue
		echo "== $bin"
		out=$(timeout --kill-after=10 300 "$bin" 2>&1)
		rc=$?
		printf '%s\n' "$out"
		np=0
		nf=0
		while read -r p; do
			np=$((np + p))
		done < <(printf '%s\n' "$out" | sed -nE 's/^\[  PASSED  \] ([0-9]+) test.*/\1/p')
		while read -r f; do
			nf=$((nf + f))
		done < <(printf '%s\n' "$out" | sed -nE 's/^\[  FAILED  \] ([0-9]+) test.*/\1/p')
		if ((rc != 0 && nf == 0)); then
			if ((rc == 124 || rc == 137)); then
				echo "FAIL $bin: timed out"
			else
				echo "FAIL $bin: exit code $rc without a cmocka FAILED line (crash or sanitizer report)"
			fi
			nf=1
		elif ((rc == 0 && nf > 0)); then
			echo "FAIL $bin: exit code 0 despite failed tests"
		fi
		up=$((up + np))
		uf=$((uf + nf))
	done
	echo "unit: $up passed, $uf failed"
	add_counts "$up" "$uf"
}

# run_suite <name> <command...>: runs a suite whose output has a line
# "<name>: N passed, M failed" and adds its counts.
run_suite() {
	local name=$1 log rc line p f
	shift
	log=$(mktemp)
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	line=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed\$" "$log" | tail -n 1)
	rm -f "$log"
	if [[ -z $line ]]; then
		broken "suite $name could not run (exit code $rc, no count line)"
		return
	fi
	p=$(sed -E 's/^.*: ([0-9]+) passed, ([0-9]+) failed$/\1/' <<<"$line")
	f=$(sed -E 's/^.*: ([0-9]+) passed, ([0-9]+) failed$/\2/' <<<"$line")
	add_counts "$p" "$f"
	if ((rc != 0 && f == 0)); then
		broken "suite $name exited with $rc although it reported no failure"
	fi
}

run_unit
run_suite integration python3 test/integration/run.py
run_suite dredd bash test/dredd/run.sh
run_suite fuzz bash scripts/fuzz.sh --quick

if ((${#BROKEN[@]})); then
	printf 'test.sh: could not run: %s\n' "${BROKEN[@]}" >&2
fi
echo "$PASSED passed, $FAILED failed"
if ((FAILED > 0 || ${#BROKEN[@]} > 0)); then
	exit 1
fi
exit 0
