"""Vendor one version's openAPIV3Schema out of a CustomResourceDefinition YAML file.

    python infra/helm/schemas/extract.py CRD.yaml VERSION OUT.json

Writes {"group", "kind", "version", "source_sha256", "openAPIV3Schema"} as compact JSON, the schema
exactly as the CRD has it (infra/helm/check.py turns it into a strict JSON Schema when it validates).
Where each vendored file came from is in README.md beside this script.
"""

from __future__ import annotations

import hashlib
import json
import sys

import yaml


def main(src: str, version: str, out: str) -> None:
    raw = open(src, "rb").read()
    crd = yaml.safe_load(raw)
    if crd.get("kind") != "CustomResourceDefinition":
        raise SystemExit(f"{src}: not a CustomResourceDefinition")
    found = [v for v in crd["spec"]["versions"] if v["name"] == version]
    if not found:
        raise SystemExit(f"{src}: no version {version} (has {[v['name'] for v in crd['spec']['versions']]})")
    doc = {
        "group": crd["spec"]["group"],
        "kind": crd["spec"]["names"]["kind"],
        "version": version,
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "openAPIV3Schema": found[0]["schema"]["openAPIV3Schema"],
    }
    with open(out, "w") as f:
        json.dump(doc, f, separators=(",", ":"), sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
