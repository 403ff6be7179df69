#!/usr/bin/env python3
"""Turn the statements a server ran, as PostgreSQL logged them, into a pgbench script.

bench/run.sh turns on log_min_duration_statement = 0, makes one request, turns
it off and hands us the new part of the server log on stdin. Every `execute`
logged there (the server's prepared or unnamed statements, with their
`DETAIL:  parameters: $1 = '...'` line) becomes one command of the script, in
order, so a pgbench transaction does the database work of one request.

A parameter whose value equals one given with --var NAME=VALUE becomes :NAME
(pgbench sends it as a parameter under -M prepared); other parameters are
inlined as literals. Lines given with --set are written first (e.g.
"\\set id random(:id_min, :id_max)").

--after and --before (times as the log prints them, "YYYY-MM-DD
HH:MM:SS.mmm", in log_timezone) keep only the records logged in between:
the server runs periodic statements of its own (token revocations, task
sweeps) that may land in the same stretch of log as the request.

Exit status 1 (and nothing written) when the log holds no execute.

usage: pgbench_from_log.py [--var NAME=VALUE]... [--set LINE]... [--match TEXT]
                           [--after TIME] [--before TIME] < log > script
"""
import argparse
import re
import sys

# A record starts with the default log_line_prefix '%m [%p] ' (PostgreSQL 15):
# "2026-11-25 07:34:45.631 UTC [19934] LOG:  ...". Continuation lines (a
# statement with newlines) have no prefix.
RECORD = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) \S+ \[(\d+)\] (\w+):  (.*)$")
EXECUTE = re.compile(r"^duration: [\d.]+ ms  execute [^:]*: (.*)$", re.S)
PARAMS = re.compile(r"^parameters: (.*)$", re.S)
ONE_PARAM = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")


def records(lines):
    """(time, pid, level, message) per log record, continuation lines joined."""
    cur = None
    for line in lines:
        line = line.rstrip("\n")
        m = RECORD.match(line)
        if m:
            if cur:
                yield cur
            cur = [m.group(1), m.group(2), m.group(3), m.group(4)]
        elif cur:
            cur[3] += "\n" + line
    if cur:
        yield cur


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--var", action="append", default=[], help="NAME=VALUE")
    ap.add_argument("--set", action="append", default=[], help="a line written first")
    ap.add_argument("--match", default="", help="keep only statements containing TEXT")
    ap.add_argument("--after", default="", help="keep only records logged at or after TIME")
    ap.add_argument("--before", default="", help="keep only records logged at or before TIME")
    args = ap.parse_args()
    variables = {}
    for v in args.var:
        name, _, value = v.partition("=")
        variables[value] = name

    statements = []  # [sql, {n: literal}]
    last_by_pid = {}
    for when, pid, level, msg in records(sys.stdin):
        # same format on both sides: the strings compare as times do
        if (args.after and when < args.after) or (args.before and when > args.before):
            last_by_pid.pop(pid, None)
            continue
        if level == "LOG":
            m = EXECUTE.match(msg)
            if m and args.match in m.group(1):
                statements.append([m.group(1).strip(), {}])
                last_by_pid[pid] = statements[-1]
            else:
                last_by_pid.pop(pid, None)
        elif level == "DETAIL" and pid in last_by_pid:
            m = PARAMS.match(msg)
            if m:
                for n, lit in ONE_PARAM.findall(m.group(1)):
                    last_by_pid[pid][1][int(n)] = lit
            last_by_pid.pop(pid, None)

    if not statements:
        return 1
    out = [line for line in args.set]
    for sql, params in statements:
        def sub(m):
            n = int(m.group(1))
            lit = params.get(n)
            if lit is None:
                return m.group(0)
            if lit != "NULL" and lit[1:-1].replace("''", "'") in variables:
                return ":" + variables[lit[1:-1].replace("''", "'")]
            return lit
        sql = re.sub(r"\$(\d+)\b", sub, sql)
        out.append(sql.rstrip().rstrip(";") + ";")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
