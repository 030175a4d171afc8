#!/usr/bin/env bash
# Installs what tests/test_k8s.py validates infra/k8s with, into the download cache
# (${CLICKPULSE_CACHE:-~/.cache/clickpulse}/k8s), never into the repository:
#   - kustomize and kubeconform, built by `go install` from the Go module proxy;
#   - kubeconform's JSON schemas, built offline by schemas.py: the built-in kinds from the
#     OpenAPI document of the k8s.io/kubernetes Go module, the custom resources (Strimzi's
#     Kafka, KafkaNodePool, KafkaTopic; the Flink operator's FlinkDeployment) from CRDs
#     that pom.xml resolves from Maven Central.
# Writes $CACHE/k8s/validators.env (KUSTOMIZE, KUBECONFORM, SCHEMAS, KUBERNETES_VERSION).
# Runs in seconds once everything is there. Needs Go, Maven and a Java 21+ runtime
# (Strimzi's CRD generator), and the project's Python (PyYAML): PYTHON, default .venv/bin/python.
set -euo pipefail
shopt -s inherit_errexit   # a failing step inside $(...) stops the script too

KUSTOMIZE_VERSION=v5.8.2   # the newest that builds with the Go 1.26 of our machines (5.8.3 needs 1.27)
KUBECONFORM_VERSION=v0.8.0
KUBERNETES_VERSION=1.34.1
SCHEMA_SET=k8s-${KUBERNETES_VERSION}-strimzi-1.2.0-flinkop-1.10.0+v2_0-1

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
CACHE="${CLICKPULSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clickpulse}/k8s"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
mkdir -p "$CACHE"

need() { command -v "$1" >/dev/null 2>&1 || { echo "infra/k8s/validate/install.sh: $1 is needed ($2)" >&2; exit 1; }; }

go_tool() {   # go_tool NAME MODULE VERSION -> path of the binary
  local dir="$CACHE/bin/$1-$3"
  if [ ! -x "$dir/$1" ]; then
    need go "Go 1.22+ builds kustomize and kubeconform from the Go module proxy"
    echo "building $1 $3 (go install $2@$3)" >&2
    mkdir -p "$dir"
    GOBIN="$dir" GOFLAGS=-mod=mod go install "$2@$3" >&2
  fi
  echo "$dir/$1"
}

java21() {   # a java of version 21 or newer: JAVA_HOME, the JDKs in /usr/lib/jvm, then PATH
  local j v
  for j in "${JAVA_HOME:-/nonexistent}/bin/java" /usr/lib/jvm/*/bin/java "$(command -v java || true)"; do
    [ -x "$j" ] || continue
    v="$("$j" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
    if [ -n "$v" ] && [ "${v%%.*}" -ge 21 ] 2>/dev/null; then echo "$j"; return 0; fi
  done
  echo "infra/k8s/validate/install.sh: Strimzi's CRD generator needs Java 21 or newer (set JAVA_HOME)" >&2
  return 1
}

builtin_schemas() {   # Kubernetes' OpenAPI document from the k8s.io/kubernetes module
  local out="$1" modcache="$CACHE/gomod-tmp" dir
  need go "the Kubernetes OpenAPI document comes from the k8s.io/kubernetes Go module"
  dir="$(GOMODCACHE="$modcache" GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$KUBERNETES_VERSION" \
         | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  "$PYTHON" "$HERE/schemas.py" k8s "$dir/api/openapi-spec/swagger.json" "$out"
  chmod -R u+w "$modcache" && rm -rf "$modcache"   # 100+ MB of Kubernetes source, no longer needed
}

crd_schemas() {   # Strimzi's CRDs generated from its API model; the Flink operator's from its API jar
  local out="$1" work java cp jar
  need mvn "the CRDs come from Maven Central"
  java="$(java21)"
  work="$(mktemp -d)"
  mvn -q -B -f "$HERE/pom.xml" dependency:build-classpath -Dmdep.outputFile="$work/cp.txt" >&2
  cp="$(cat "$work/cp.txt")"
  # the arguments of Strimzi's own build (api/pom.xml, generate-crd-co-install-v1)
  "$java" -cp "$cp" io.strimzi.crdgenerator.CrdGenerator --crd-api-version v1 --api-versions v1 \
    --storage-version v1 --yaml \
    "io.strimzi.api.kafka.model.kafka.Kafka=$work/kafka.yaml" \
    "io.strimzi.api.kafka.model.nodepool.KafkaNodePool=$work/kafkanodepool.yaml" \
    "io.strimzi.api.kafka.model.topic.KafkaTopic=$work/kafkatopic.yaml" >&2
  jar="$(tr ':' '\n' < "$work/cp.txt" | grep '/flink-kubernetes-operator-api-[^/]*\.jar$')"
  "$PYTHON" -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
    "$jar" META-INF/fabric8/flinkdeployments.flink.apache.org-v1.yml > "$work/flinkdeployment.yaml"
  "$PYTHON" "$HERE/schemas.py" crd "$out" "$work/kafka.yaml" "$work/kafkanodepool.yaml" "$work/kafkatopic.yaml" \
    "$work/flinkdeployment.yaml" --extra-flink-version v2_0
  rm -rf "$work"
}

KUSTOMIZE="$(go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION")"
KUBECONFORM="$(go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION")"
SCHEMAS="$CACHE/schemas/$SCHEMA_SET"
if [ ! -f "$SCHEMAS/.complete" ]; then
  echo "building kubeconform schemas ($SCHEMA_SET)" >&2
  rm -rf "$SCHEMAS" && mkdir -p "$SCHEMAS"
  builtin_schemas "$SCHEMAS" >&2
  crd_schemas "$SCHEMAS" >&2
  touch "$SCHEMAS/.complete"
fi
cat > "$CACHE/validators.env" <<EOF
KUSTOMIZE=$KUSTOMIZE
KUBECONFORM=$KUBECONFORM
SCHEMAS=$SCHEMAS
KUBERNETES_VERSION=$KUBERNETES_VERSION
EOF
echo "k8s validators ready ($CACHE/validators.env)" >&2
