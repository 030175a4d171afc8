#!/usr/bin/env bash
# Test-only tools: the Kubernetes manifests' validators (infra/k8s/validate/install.sh), and
# system packages: Debian's Chromium for the browser tests, wrk for the collector
# benchmark's smoke test, and kcat, a generic Kafka client the tests use to prove the topics
# work with any client.
set -eu
# kustomize, kubeconform and offline schemas for tests/test_k8s.py, into the download cache
bash "$(dirname "$0")/k8s/validate/install.sh"
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing ${missing[*]}: run 'sudo apt-get install -y ${missing[*]}'" >&2; exit 1
fi
echo "installing ${missing[*]} (apt-get)"
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
