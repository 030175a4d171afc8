"""Builds kubeconform's JSON schemas offline, for validating infra/k8s.

kubeconform reads one JSON schema per kind and API version; they are laid out as
OUT/<kind><suffix>.json, kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}.json`
(deployment-apps-v1.json, service-v1.json, kafka-kafka-v1.json, ...):

- built-in kinds from Kubernetes' own OpenAPI v2 document (api/openapi-spec/swagger.json of
  the k8s.io/kubernetes Go module, fetched from the Go module proxy by install.sh);
- custom resources from their CustomResourceDefinitions' openAPIV3Schema.

Every schema is standalone ($refs inlined) and strict, like kubeconform's `-strict`
schemas: an object with declared properties accepts no others, except where the API
declares it free-form (x-kubernetes-preserve-unknown-fields).

    python schemas.py k8s SWAGGER_JSON OUT_DIR
    python schemas.py crd OUT_DIR CRD_YAML... [--extra-flink-version v2_0]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

INT_OR_STRING = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
# Types whose OpenAPI form says "string" but that the API also takes as a number.
SPECIAL_REFS = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": INT_OR_STRING,
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"oneOf": [{"type": "string"}, {"type": "number"}]},
}
SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
SCHEMA_ONE = ("items", "additionalProperties", "not")


def file_name(kind: str, api_version: str) -> str:
    """kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}.json for a kind and apiVersion."""
    group_parts = api_version.split("/")
    suffix = "-" + group_parts[0].split(".")[0].lower()
    if len(group_parts) > 1:
        suffix += "-" + group_parts[1].lower()
    return f"{kind.lower()}{suffix}.json"


def inline(node, defs: dict, path: tuple = ()):
    """`node` with every #/definitions/ $ref replaced by the definition; a definition that
    contains itself (JSONSchemaProps) becomes {} (anything) at the second level."""
    if isinstance(node, list):
        return [inline(x, defs, path) for x in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("$ref"), str):   # (JSONSchemaProps also has a *property* named $ref)
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in SPECIAL_REFS:
            return dict(SPECIAL_REFS[name])
        if name in path:
            return {}
        return inline(defs[name], defs, (*path, name))
    return {k: inline(v, defs, path) for k, v in node.items()}


def tidy(schema):
    """A JSON schema kubeconform can use strictly: descriptions, formats and OpenAPI
    extensions dropped, int-or-string and nullable spelled out, unknown properties refused
    where the API declares them."""
    if not isinstance(schema, dict):
        return schema
    if schema.get("x-kubernetes-int-or-string"):
        return dict(INT_OR_STRING)
    out = {}
    for key, value in schema.items():
        if key in SCHEMA_MAPS:
            out[key] = {name: tidy(sub) for name, sub in value.items()}
        elif key in SCHEMA_LISTS:
            out[key] = [tidy(sub) for sub in value]
        elif key in SCHEMA_ONE:
            out[key] = tidy(value)
        elif key in ("description", "format", "nullable") or key.startswith("x-kubernetes-"):
            continue
        else:
            out[key] = value
    if schema.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if "properties" in out and "additionalProperties" not in out \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def write(out: Path, kind: str, api_version: str, schema: dict) -> Path:
    path = out / file_name(kind, api_version)
    path.write_text(json.dumps(schema, separators=(",", ":")))
    return path


def k8s(swagger: Path, out: Path) -> int:
    defs = json.loads(swagger.read_text())["definitions"]
    n = 0
    for name, definition in defs.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            write(out, gvk["kind"], api_version, tidy(inline(definition, defs, (name,))))
            n += 1
    return n


def extend_flink_versions(schema: dict, extra: list[str]) -> None:
    """The FlinkDeployment CRD on Maven Central is operator 1.10's; 1.15 (which runs Flink
    2.0) adds v2_0.. to spec.flinkVersion's enum. The rest of the spec fields we use are
    the same in both (README, *Running on Kubernetes*)."""
    try:
        enum = schema["properties"]["spec"]["properties"]["flinkVersion"]["enum"]
    except KeyError:
        raise SystemExit("FlinkDeployment CRD: no spec.flinkVersion enum where expected; update schemas.py") from None
    enum.extend(v for v in extra if v not in enum)


def crd(out: Path, paths: list[Path], extra_flink_versions: list[str]) -> int:
    n = 0
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            kind = spec["names"]["kind"]
            for version in spec["versions"]:
                schema = version["schema"]["openAPIV3Schema"]
                # every object has these; some generators (fabric8) leave them out of the schema
                for field, type_ in (("apiVersion", "string"), ("kind", "string"), ("metadata", "object")):
                    schema.setdefault("properties", {}).setdefault(field, {"type": type_})
                if kind == "FlinkDeployment":
                    extend_flink_versions(schema, extra_flink_versions)
                write(out, kind, f"{spec['group']}/{version['name']}", tidy(schema))
                n += 1
    if n == 0:
        raise SystemExit(f"no CustomResourceDefinition in {', '.join(map(str, paths))}")
    return n


def main(argv: list[str]) -> None:
    if len(argv) >= 3 and argv[0] == "k8s":
        out = Path(argv[2])
        out.mkdir(parents=True, exist_ok=True)
        print(f"{k8s(Path(argv[1]), out)} built-in kind schemas in {out}")
    elif len(argv) >= 3 and argv[0] == "crd":
        extra = []
        args = list(argv[2:])
        while "--extra-flink-version" in args:
            i = args.index("--extra-flink-version")
            extra.append(args[i + 1])
            del args[i:i + 2]
        out = Path(argv[1])
        out.mkdir(parents=True, exist_ok=True)
        print(f"{crd(out, [Path(a) for a in args], extra)} custom resource schemas in {out}")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
