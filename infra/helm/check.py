"""Render the sys2ft chart and validate every manifest (test/helm.test.ts runs it; infra/helm/setup.sh
makes its venv).

    infra/helm/.venv/bin/python infra/helm/check.py [--values FILE]... [--manifest FILE]...

For each values file (and the chart's defaults, named `defaults`): Helm's own SDK (helm-python-sdk:
Helm v4's Go engine through a C library) lints the chart strictly, checks the values against
values.schema.json and renders the templates offline, as `helm template` does. Every rendered
manifest, and every file given with --manifest, is then validated:
  - built-in kinds against the Kubernetes OpenAPI schemas of each --kube-version (kubernetes-validate,
    strict: an unknown field is an error);
  - RayCluster (ray.io/v1), LocalQueue (kueue.x-k8s.io/v1beta1, v1beta2) and CNPG Cluster
    (postgresql.cnpg.io/v1) against the CRDs' openAPIV3Schema vendored in infra/helm/schemas/, made
    strict the way kubeconform does it (additionalProperties false wherever a schema lists properties
    and does not preserve unknown fields);
  - names and labels against Kubernetes' syntax rules, which neither schema states;
  - references inside the release: a Service must select the pods of a rendered workload, a
    secretKeyRef or PVC must name a rendered object or one the values say exists outside the chart.
Prints one JSON line per values file or manifest file; exits 1 when any check failed.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils as kv_utils
import yaml
from helm_python import Chart, lint
from helm_python import _native
from referencing import Registry, Resource

HERE = Path(__file__).resolve().parent
CHART = HERE / "sys2ft"
SCHEMAS = HERE / "schemas"
RELEASE, NAMESPACE = "sys2ft", "sys2ft"
# the chart's kubeVersion floor and the newest schemas kubernetes-validate ships
KUBE_VERSIONS = ["1.29.0", "1.37.0"]
CRDS = {
    ("ray.io/v1", "RayCluster"): "ray.io_v1_raycluster.json",
    ("kueue.x-k8s.io/v1beta1", "LocalQueue"): "kueue.x-k8s.io_v1beta1_localqueue.json",
    ("kueue.x-k8s.io/v1beta2", "LocalQueue"): "kueue.x-k8s.io_v1beta2_localqueue.json",
    ("postgresql.cnpg.io/v1", "Cluster"): "postgresql.cnpg.io_v1_cluster.json",
}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# kinds whose metadata.name becomes a DNS label (a Service's name is a host name)
DNS_LABEL_KINDS = {"Service", "StatefulSet", "RayCluster"}
POD_SPEC_PATHS = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
}


# ---------- CRD schemas -----------------------------------------------------------------------

def strict_schema(node: Any) -> Any:
    """An openAPIV3Schema as a strict JSON Schema (kubeconform's openapi2jsonschema, strict mode)."""
    if isinstance(node, list):
        return [strict_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in node and "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if "properties" in out:
        out["properties"] = {k: strict_schema(v) for k, v in node["properties"].items()}
    return out


@functools.cache
def crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    doc = json.loads((SCHEMAS / CRDS[(api_version, kind)]).read_text())
    schema = strict_schema(doc["openAPIV3Schema"])
    group, _, version = api_version.partition("/")
    schema["properties"]["apiVersion"] = {"const": api_version}
    schema["properties"]["kind"] = {"const": kind}
    assert doc["group"] == group and doc["version"] == version and doc["kind"] == kind, doc.keys()
    schema.setdefault("required", [])
    schema["required"] = sorted(set(schema["required"]) | {"apiVersion", "kind", "metadata", "spec"})
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    cls.check_schema(schema)
    return cls(schema)


def error_text(err: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in err.absolute_path) or "(root)"
    return f"{where}: {err.message[:300]}"


# ---------- one manifest ----------------------------------------------------------------------

def meta_errors(doc: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    meta = doc.get("metadata") or {}
    name = meta.get("name", "")
    rule = DNS_LABEL if doc.get("kind") in DNS_LABEL_KINDS else DNS_SUBDOMAIN
    limit = 63 if doc.get("kind") in DNS_LABEL_KINDS else 253
    if not name or not rule.match(name) or len(name) > limit:
        errors.append(f"metadata/name: {name!r} is not a valid {doc.get('kind')} name (DNS {'label' if limit == 63 else 'subdomain'}, <= {limit})")
    for where, labels in labels_in(doc):
        for k, v in (labels or {}).items():
            prefix, _, short = k.rpartition("/")
            if (prefix and (not DNS_SUBDOMAIN.match(prefix) or len(prefix) > 253)) or not LABEL_NAME.match(short) or len(short) > 63:
                errors.append(f"{where}: label key {k!r} is invalid")
            if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE.match(v):
                errors.append(f"{where}: label {k}={v!r} is not a valid label value (<= 63 characters, alphanumerics, -_.)")
    return errors


def labels_in(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for k, v in node.items():
            here = f"{path}/{k}" if path else k
            if k in ("labels", "matchLabels") and isinstance(v, dict) and path.split("/")[-1] in ("metadata", "selector", "podSelector", ""):
                yield here, v
            elif k == "selector" and isinstance(v, dict) and all(isinstance(x, str) for x in v.values()) and path == "spec":
                yield here, v  # a Service's selector is a plain label map
            else:
                yield from labels_in(v, here)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from labels_in(v, f"{path}/{i}")


def validate_manifest(doc: Any, kube_versions: list[str]) -> list[str]:
    if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
        return ["not a Kubernetes object (apiVersion and kind are required)"]
    api, kind = doc["apiVersion"], doc["kind"]
    errors = meta_errors(doc)
    if (api, kind) in CRDS:
        for err in sorted(crd_validator(api, kind).iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
            errors.append(error_text(err))
        return errors
    if "." in api.split("/")[0] and not api.split("/")[0].endswith(".k8s.io"):
        return errors + [f"no schema for {api} {kind}: vendor its CRD into infra/helm/schemas/"]
    for version in kube_versions:
        try:
            validator = k8s_validator(version, api, kind)
        except kubernetes_validate.SchemaNotFoundError as err:
            errors.append(f"Kubernetes {version}: {err.message}")
            continue
        for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
            errors.append(f"Kubernetes {version}: {error_text(err)}")
    return errors


@functools.cache
def k8s_validator(version: str, api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """kubernetes-validate's strict schema of one kind (what kubernetes_validate.validate loads), as a
    validator that reports every error, not only the first."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema_dir = f"v{version}-local-strict"
    try:
        schema = kv_utils.schema_contents(f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{group_version}.json", version)
    except FileNotFoundError:
        raise kubernetes_validate.SchemaNotFoundError(version=version, kind=kind, api_version=api_version) from None
    definitions = kv_utils.schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


# ---------- a whole render --------------------------------------------------------------------

def dig(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    for p in path:
        doc = (doc or {}).get(p)
    return doc


def pod_specs(doc: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod labels, pod spec) of a workload, including a RayCluster's groups."""
    kind = doc.get("kind")
    if kind in POD_SPEC_PATHS:
        yield dig(doc, ("spec", "template", "metadata", "labels")) or {}, dig(doc, POD_SPEC_PATHS[kind]) or {}
    elif kind == "RayCluster":
        head = dig(doc, ("spec", "headGroupSpec", "template")) or {}
        yield dig(head, ("metadata", "labels")) or {}, head.get("spec") or {}
        for g in dig(doc, ("spec", "workerGroupSpecs")) or []:
            yield dig(g, ("template", "metadata", "labels")) or {}, dig(g, ("template", "spec")) or {}


def external_objects(values: dict[str, Any], full: str) -> set[tuple[str, str]]:
    """Objects the values say exist outside the chart (made by the user or by an operator)."""
    out: set[tuple[str, str]] = set()
    pg = values["postgres"]
    if pg["cnpg"]["enabled"]:
        out.add(("Secret", f"{full}-pg-app"))  # written by the CNPG operator
    elif not pg["url"]:
        out.add(("Secret", pg["existingSecret"] or f"{full}-postgres"))
    if values["auth"]["existingSecret"]:
        out.add(("Secret", values["auth"]["existingSecret"]))
    for key in ("adapters", "modelCache"):
        if values[key]["existingClaim"]:
            out.add(("PersistentVolumeClaim", values[key]["existingClaim"]))
    return out


def reference_errors(docs: list[dict[str, Any]], values: dict[str, Any]) -> list[str]:
    full = fullname(values)
    have = {(d["kind"], d["metadata"]["name"]) for d in docs} | external_objects(values, full)
    errors: list[str] = []
    pods = [(d, labels, spec) for d in docs for labels, spec in pod_specs(d)]
    for d in docs:
        if d["kind"] == "Service":
            sel = d["spec"].get("selector") or {}
            if not any(all(labels.get(k) == v for k, v in sel.items()) for _, labels, _ in pods if d["kind"]):
                errors.append(f"Service {d['metadata']['name']}: its selector {sel} matches no rendered pod template")
    for owner, _, spec in pods:
        where = f"{owner['kind']} {owner['metadata']['name']}"
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for e in c.get("env") or []:
                ref = dig(e, ("valueFrom", "secretKeyRef"))
                if ref and ("Secret", ref["name"]) not in have:
                    errors.append(f"{where}: env {e['name']} reads Secret {ref['name']}, which is neither rendered nor named by the values")
            mounts = {m["name"] for m in c.get("volumeMounts") or []}
            missing = mounts - {v["name"] for v in spec.get("volumes") or []}
            if missing:
                errors.append(f"{where}: container {c['name']} mounts {sorted(missing)}, which the pod does not declare")
        for v in spec.get("volumes") or []:
            claim = dig(v, ("persistentVolumeClaim", "claimName"))
            if claim and ("PersistentVolumeClaim", claim) not in have:
                errors.append(f"{where}: volume {v['name']} claims {claim}, which is neither rendered nor named by the values")
    return errors


def fullname(values: dict[str, Any]) -> str:
    if values.get("fullnameOverride"):
        return values["fullnameOverride"][:40].rstrip("-")
    name = values.get("nameOverride") or "sys2ft"
    return (RELEASE if name in RELEASE else f"{RELEASE}-{name}")[:40].rstrip("-")


def check_values(label: str, overrides: dict[str, Any] | None, kube_versions: list[str], chart_dir: Path = CHART, dump: Path | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"values": label, "manifests": 0, "kinds": {}, "errors": []}
    report = lint(str(chart_dir), overrides, strict=True, namespace=NAMESPACE, kube_version=f"v{kube_versions[-1]}")
    for m in report.get("messages", []):
        if m.get("severity", 0) >= 2:  # warnings count: strict lint
            result["errors"].append(f"helm lint: {m.get('path')}: {m.get('error')}")
    result["errors"] += [f"helm lint: {e}" for e in report.get("errors", []) if not any(e in x for x in result["errors"])]
    try:
        with Chart.load(str(chart_dir)) as chart:
            chart.validate_schema(overrides)
            values = chart.merge_values(overrides)
            rendered = chart.render(overrides, name=RELEASE, namespace=NAMESPACE, is_install=True)
    except Exception as err:  # HelmValuesError, HelmRenderError: the message names the key or template
        result["errors"].append(f"{type(err).__name__}: {err}")
        return result
    docs: list[dict[str, Any]] = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt") or not text.strip():
            continue
        try:
            parsed = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as err:
            result["errors"].append(f"{template}: not YAML: {err}")
            continue
        for d in parsed:
            name = f"{template}: {d.get('kind')} {(d.get('metadata') or {}).get('name')}" if isinstance(d, dict) else template
            result["errors"] += [f"{name}: {e}" for e in validate_manifest(d, kube_versions)]
            if isinstance(d, dict) and "kind" in d:
                docs.append(d)
                key = f"{d['apiVersion']} {d['kind']}"
                result["kinds"][key] = result["kinds"].get(key, 0) + 1
    result["manifests"] = len(docs)
    if dump is not None:
        dump.mkdir(parents=True, exist_ok=True)
        out = dump / (Path(label).stem + ".json")
        out.write_text(json.dumps(docs, indent=1))
        result["dump"] = str(out)
    names = [(d["kind"], d["metadata"].get("name")) for d in docs]
    result["errors"] += [f"{k} {n} is rendered twice" for k, n in sorted(set(x for x in names if names.count(x) > 1))]
    if not result["errors"]:
        result["errors"] += reference_errors(docs, values)
    return result


def check_manifest_file(path: str, kube_versions: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {"manifest": path, "manifests": 0, "errors": []}
    for d in yaml.safe_load_all(Path(path).read_text()):
        if d is None:
            continue
        result["manifests"] += 1
        name = f"{d.get('kind')} {(d.get('metadata') or {}).get('name')}" if isinstance(d, dict) else "?"
        result["errors"] += [f"{name}: {e}" for e in validate_manifest(copy.deepcopy(d), kube_versions)]
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--values", action="append", default=[], help="a values file to render with (repeatable); the defaults always render")
    ap.add_argument("--no-defaults", action="store_true", help="skip rendering the chart's default values")
    ap.add_argument("--manifest", action="append", default=[], help="validate this YAML file's manifests (no rendering)")
    ap.add_argument("--kube-version", action="append", help=f"Kubernetes versions to validate against, 1.25 to 1.37 (default {', '.join(KUBE_VERSIONS)})")
    ap.add_argument("--chart", type=Path, default=CHART, help="the chart directory (default infra/helm/sys2ft)")
    ap.add_argument("--dump", type=Path, help="write each render's manifests to DIR/<values file stem>.json")
    args = ap.parse_args()
    kube_versions = [".".join(v.lstrip("v").split(".")[:2]) + ".0" for v in (args.kube_version or KUBE_VERSIONS)]
    results = []
    if not args.no_defaults and not args.manifest:
        results.append(check_values("defaults", None, kube_versions, args.chart, args.dump))
    for f in args.values:
        results.append(check_values(f, yaml.safe_load(Path(f).read_text()) or {}, kube_versions, args.chart, args.dump))
    for f in args.manifest:
        results.append(check_manifest_file(f, kube_versions))
    versions = {"helm_sdk": _native.helm_sdk_version(), "helm_c": _native.helm_c_version(), "kube": kube_versions}
    for r in results:
        print(json.dumps({**r, "versions": versions}, sort_keys=True))
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
