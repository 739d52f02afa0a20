"""No docker daemon here: check the Dockerfile by parsing it."""

from __future__ import annotations

from pathlib import Path

WORKER_DIR = Path(__file__).resolve().parents[1]


def instructions() -> list[tuple[str, str]]:
    text = (WORKER_DIR / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile() -> None:
    ins = instructions()
    ops = [op for op, _ in ins]
    assert ops[0] in ("FROM", "ARG") and "FROM" in ops
    users = [rest for op, rest in ins if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(op == "HEALTHCHECK" and "/healthz" in rest for op, rest in ins)
    env = " ".join(rest for op, rest in ins if op == "ENV")
    assert "SYS2FT_WORKER_ENGINE=vllm" in env
    assert any(op == "VOLUME" for op in ops)
    assert any(op == "RUN" and "requirements-gpu.txt" in rest for op, rest in ins)
    assert any(op in ("CMD", "ENTRYPOINT") and "sys2ft_worker" in rest for op, rest in ins)
    gpu = (WORKER_DIR / "requirements-gpu.txt").read_text()
    assert "vllm==0.33.0" in gpu


def test_ray_matches_the_chart() -> None:
    """The RayCluster's pods and the launcher run this image: its Ray is the chart's rayVersion."""
    import re

    gpu = (WORKER_DIR / "requirements-gpu.txt").read_text()
    pins = re.findall(r"^ray(\[[a-z,]+\])?==(\S+)$", gpu, flags=re.M)
    assert len(pins) == 1, pins
    extras, version = pins[0]
    assert "default" in extras, "KubeRay's probes need the dashboard and its agent: ray[default]"
    values = (WORKER_DIR.parent / "helm" / "sys2ft" / "values.yaml").read_text()
    chart = re.search(r'^\s+rayVersion: "([^"]+)"', values, flags=re.M)
    assert chart and chart.group(1) == version
    ray_venv = re.search(r"^ray==(\S+)", (WORKER_DIR / "requirements-ray.txt").read_text(), flags=re.M)
    assert ray_venv and ray_venv.group(1) == version, "the worker venv's Ray (setup.sh --ray) is the same version"
