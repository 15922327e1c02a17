"""Shared helpers of the chart tests: paths, value sets, real-Helm rendering and document parsing.

Everything here is pure apart from reading the chart and rendering it with helm-python-sdk (Helm
v4's own engine, in-process, no cluster: `lookup` returns nothing).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Iterator

import yaml
from helm_python import Chart

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "chart"
KONG_DIR = Path(os.environ.get("JUSTPUSH_KONG_DIR", REPO_ROOT.parent / "shared" / "kong")).resolve()
KONG_CHART_DIR = KONG_DIR / "chart-kong-3.4.1"
KONG_CRDS_FILE = KONG_CHART_DIR / "crds" / "custom-resource-definitions.yaml"

RELEASE = "demo"
NAMESPACE = "apps"
KUBE_VERSION = "1.30.0"


def load_yaml_file(path: Path) -> dict[str, Any]:
    """A values file as a dict (an empty file is {})."""
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def ci_files() -> list[Path]:
    return sorted(p for p in (CHART_DIR / "ci").glob("*.yaml") if not p.name.startswith("."))


def value_sets() -> list[tuple[str, dict[str, Any]]]:
    """The chart's defaults plus every chart/ci/*.yaml, as (id, values)."""
    return [("defaults", {})] + [(p.stem, load_yaml_file(p)) for p in ci_files()]


VALUE_SET_IDS = [name for name, _ in value_sets()]


def values_of(set_id: str) -> dict[str, Any]:
    return dict(value_sets())[set_id]


@functools.lru_cache(maxsize=None)
def chart() -> Chart:
    return Chart.load(str(CHART_DIR))


def render(values: dict[str, Any], name: str = RELEASE, namespace: str = NAMESPACE) -> dict[str, str]:
    """Real-Helm render: {template path: text}, NOTES.txt included."""
    return chart().render(values, name=name, namespace=namespace)


@functools.lru_cache(maxsize=None)
def _render_set_cached(set_id: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(render(values_of(set_id)).items()))


def render_set(set_id: str) -> dict[str, str]:
    """Rendering of a named value set, cached for the session (random values stay consistent)."""
    return dict(_render_set_cached(set_id))


def is_notes(path: str) -> bool:
    return path.endswith("NOTES.txt")


def documents(rendered: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """Every non-empty YAML document as (source template, object); NOTES.txt skipped."""
    out = []
    for path in sorted(rendered):
        if is_notes(path):
            continue
        for doc in yaml.safe_load_all(rendered[path]):
            if doc:
                out.append((path, doc))
    return out


def objects(set_id: str) -> list[dict[str, Any]]:
    return [doc for _, doc in documents(render_set(set_id))]


def of_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o.get("kind") == kind]


def by_name(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in of_kind(objs, kind)}


def deep_merge(base: Any, over: Any) -> Any:
    """Helm-like coalescing of user values over defaults: maps merge, everything else replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = deep_merge(out[key], value)
            else:
                out[key] = value
        return out
    return over


def chart_defaults() -> dict[str, Any]:
    return load_yaml_file(CHART_DIR / "values.yaml")


def effective_values(values: dict[str, Any]) -> dict[str, Any]:
    return deep_merge(chart_defaults(), values)


def effective_components(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each component after componentDefaults are applied (as the chart's helper does)."""
    eff = effective_values(values)
    return {
        name: deep_merge(eff["componentDefaults"], own or {})
        for name, own in eff["components"].items()
    }


def iter_pod_templates(objs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, pod template) for Deployments, StatefulSets and CronJobs."""
    for obj in objs:
        kind = obj.get("kind")
        if kind in ("Deployment", "StatefulSet"):
            yield obj, obj["spec"]["template"]
        elif kind == "CronJob":
            yield obj, obj["spec"]["jobTemplate"]["spec"]["template"]
