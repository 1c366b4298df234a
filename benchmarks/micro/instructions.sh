#!/usr/bin/env bash
# Instructions per operation of each micro-benchmark, counted by valgrind's callgrind: for machines
# without hardware perf counters (package-benchmark's `instructions` metric then reads 0), and
# repeatable wherever it runs, whatever else loads the machine.
#
# Each benchmark runs as one iteration of its release executable, once with 1 operation and once
# with 1 + OPS; the difference in instructions divided by OPS is the figure. Everything a run does
# once (start-up, config compilation, the first exchange that checks the fixture) cancels out.
#
#   benchmarks/micro/instructions.sh            # after `make microbench` (or a release build of PortcullisMicro)
#   OPS=200 FILTER='Router.*' benchmarks/micro/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

EXE=${EXE:-.build/release/PortcullisMicro}
OPS=${OPS:-1000}
FILTER=${FILTER:-.*}

command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
[ -x "$EXE" ] || { echo "instructions.sh: no $EXE; run 'make microbench' first" >&2; exit 1; }

# The benchmark names, as the executable registers them.
mapfile -t names < <(swift package benchmark list --target PortcullisMicro 2>/dev/null | sed -n 's/^ *\([A-Za-z][^|]*[^ |]\) *$/\1/p' | grep -E "^($FILTER)$" || true)
[ "${#names[@]}" -gt 0 ] || { echo "instructions.sh: no benchmark matches '$FILTER'" >&2; exit 1; }

collected() {  # name operations -> instructions of the whole process
    local pattern
    pattern=$(printf '%s' "$1" | sed 's/[][\.*^$+?(){}|]/\\&/g')
    PORTCULLIS_MICROBENCH_OPS=$2 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$EXE" --filter "$pattern" 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

printf '%-60s %14s\n' "benchmark" "instr./op"
for name in "${names[@]}"; do
    one=$(collected "$name" 1)
    many=$(collected "$name" $((OPS + 1)))
    if [ -z "$one" ] || [ -z "$many" ]; then
        echo "instructions.sh: callgrind reported no count for '$name'" >&2
        exit 1
    fi
    printf '%-60s %14d\n' "$name" $(((many - one) / OPS))
done
