#!/usr/bin/env bash
# Prerequisites of `make demo` / `make test` on Debian 12 (Java, Maven, PostgreSQL, Redis):
# installs the missing Debian packages when run as root (apt-get), otherwise prints one line
# per missing piece with the command that fixes it. Python 3.11 itself is never installed
# here (pyflink 2.0 wheels).
set -u
missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "${POSTGRES_BIN_DIR:-}" ] || missing+=(postgresql-15)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} (apt-get)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
      || { echo "apt-get could not install ${missing[*]}: install them, then run make again" >&2; exit 1; }
  else
    echo "missing ${missing[*]}: run 'sudo apt-get install -y ${missing[*]}' (or set POSTGRES_BIN_DIR for PostgreSQL)" >&2
    exit 1
  fi
fi
py=$(${PYTHON:-python3} -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
[ "$py" = "3.11" ] || { echo "Python 3.11 is needed (pyflink 2.0 wheels); ${PYTHON:-python3} is ${py:-missing}: run make PYTHON=python3.11" >&2; exit 1; }
exit 0
