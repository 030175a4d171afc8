#!/usr/bin/env bash
# One line per missing prerequisite, with the command that fixes it.
set -u
fail=0
need() { command -v "$1" >/dev/null 2>&1 || { echo "missing $1: $2" >&2; fail=1; }; }
need python3 "install Python 3.11 (apt-get install python3.11 python3.11-venv)"
need java "apt-get install openjdk-17-jre-headless"
need mvn "apt-get install maven (fetches Kafka's jars from Maven Central)"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "${POSTGRES_BIN_DIR:-}" ] || {
  echo "missing PostgreSQL server: apt-get install postgresql-15 (or set POSTGRES_BIN_DIR)" >&2; fail=1; }
py=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
[ "$py" = "3.11" ] || { echo "Python 3.11 is needed (pyflink 2.0 wheels); python3 is $py: set PYTHON=python3.11" >&2; fail=1; }
exit $fail
