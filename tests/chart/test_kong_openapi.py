"""Routes derived from the OpenAPI corpus (tests/fixtures/openapi/), rendered into Kong objects.

For every spec that derives: `render --openapi` (the built binary, bundled chart) gives objects
that validate against the Kubernetes 1.30 schemas (strict) and Kong's CRDs; the same values
(`routes --chart-values`) rendered by real Helm give the same documents; every Ingress refers
only to rendered KongPlugins; and each route's regex, as Kong reads it, matches its own
operation's path and nothing longer.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from chart_support import KUBE_VERSION, NAMESPACE, RELEASE, REPO_ROOT, documents, render
from test_chart_real_helm import CUSTOM_KINDS, _kong_crd_schemas
from test_parity import JUSTPUSH_BIN, assert_same_documents, keyed, parse_template_stream

CORPUS = REPO_ROOT / "tests" / "fixtures" / "openapi"
SPECS = sorted(p for p in CORPUS.iterdir() if p.suffix in (".yaml", ".json") and not p.name.startswith("bad-"))
BAD_SPECS = sorted(p for p in CORPUS.iterdir() if p.suffix in (".yaml", ".json") and p.name.startswith("bad-"))


def _run(*args: str) -> subprocess.CompletedProcess:
    assert JUSTPUSH_BIN.is_file(), f"justpush binary not found at {JUSTPUSH_BIN}: build it or set JUSTPUSH_BIN"
    # An empty directory as cwd: no ./justpush.yaml is picked up, so the defaults apply.
    return subprocess.run([str(JUSTPUSH_BIN), *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO_ROOT / "tests" / "fixtures" / "openapi", env={**os.environ, "NO_COLOR": "1"})


# Specs whose security open-source Kong cannot enforce: refused by default (auth fails
# closed), so rendered here with their operations allowed to be public.
REFUSED_BY_DEFAULT = {"security-oauth2-oidc.yaml"}


def _allowances(spec: Path) -> list[str]:
    return ["--allow-public"] if spec.name in REFUSED_BY_DEFAULT else []


def _rendered(spec: Path) -> list[tuple[str, dict[str, Any]]]:
    proc = _run("render", "--openapi", str(spec), "--name", RELEASE, "-n", NAMESPACE, *_allowances(spec))
    assert proc.returncode == 0, proc.stderr
    return parse_template_stream(proc.stdout)


def _plan(spec: Path) -> dict[str, Any]:
    proc = _run("routes", str(spec), "--name", RELEASE, "-o", "json", *_allowances(spec))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def crds() -> dict[tuple[str, str], dict[str, Any]]:
    return _kong_crd_schemas()


def test_corpus_is_large_enough() -> None:
    assert len(SPECS) + len(BAD_SPECS) >= 15 and len(BAD_SPECS) >= 5


@pytest.mark.parametrize("spec", SPECS, ids=[p.name for p in SPECS])
def test_rendered_objects_validate_against_kubernetes_and_kong_crds(spec: Path, crds) -> None:
    docs = [d for _, d in _rendered(spec)]
    errors = []
    kinds = set()
    for obj in docs:
        key = (obj.get("apiVersion"), obj.get("kind"))
        kinds.add(obj["kind"])
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if key in crds:
            for err in jsonschema.Draft7Validator(crds[key]).iter_errors(obj):
                errors.append(f"{name}: {'/'.join(map(str, err.path))}: {err.message}")
            continue
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            if key not in CUSTOM_KINDS:
                errors.append(f"{name}: no schema")
        except kubernetes_validate.ValidationError as err:
            errors.append(f"{name}: {'.'.join(map(str, err.path))}: {err.message}")
    assert not errors, "\n".join(errors)
    assert {"Ingress", "KongPlugin"} <= kinds


@pytest.mark.parametrize("spec", SPECS, ids=[p.name for p in SPECS])
def test_real_helm_renders_the_derived_values_the_same(spec: Path) -> None:
    proc = _run("routes", str(spec), "--name", RELEASE, "--chart-values", *_allowances(spec))
    assert proc.returncode == 0, proc.stderr
    values = yaml.safe_load(proc.stdout)
    expected = keyed(documents(render(values)))
    actual = keyed(_rendered(spec))
    assert_same_documents(expected, actual, "helm", "justpush")


def _kong_regex(path: str) -> re.Pattern:
    assert path.startswith("~"), path
    return re.compile(path[1:].replace("(?<", "(?P<"))


@pytest.mark.parametrize("spec", SPECS, ids=[p.name for p in SPECS])
def test_ingresses_carry_each_route_and_its_plugins(spec: Path) -> None:
    plan = _plan(spec)
    docs = [d for _, d in _rendered(spec)]
    plugins = {d["metadata"]["name"]: d for d in docs if d["kind"] == "KongPlugin"}
    ingresses = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Ingress"}
    for route in plan["routes"]:
        ing = ingresses[f"{RELEASE}-justpush-route-{route['k8sName']}"]
        ann = ing["metadata"]["annotations"]
        assert ann["konghq.com/methods"] == ",".join(route["methods"])
        assert ann["konghq.com/regex-priority"] == str(route["regexPriority"])
        assert ann["konghq.com/strip-path"] == "false"
        (http_path,) = ing["spec"]["rules"][0]["http"]["paths"]
        assert http_path["pathType"] == "ImplementationSpecific"
        assert http_path["path"] == "/" + route["paths"][0], "KIC reads /~ as a regex path"
        listed = [plugins[n]["plugin"] for n in ann.get("konghq.com/plugins", "").split(",") if n]
        on_route = sorted(p["name"] for p in route["plugins"] if p["source"] != "anonymous-consumer")
        assert sorted(listed) == on_route
        for name in ann.get("konghq.com/plugins", "").split(","):
            assert name in plugins, f"{ing['metadata']['name']}: no KongPlugin {name}"


def _sample(kong_path: str, op_path: str) -> str:
    """A request path for the operation: the prefix the regex carries (servers / basePath) plus
    the spec path with `x1` for every parameter."""
    literal = re.sub(r"\(\?<[^>]+>\[\^#\?/\]\+\)", "{}", kong_path[1:-1]).replace("\\", "")
    template = re.sub(r"\{[^}]+\}", "{}", op_path)
    assert literal.endswith(template), (kong_path, op_path)
    return literal[: len(literal) - len(template)] + re.sub(r"\{[^}]+\}", "x1", op_path)


@pytest.mark.parametrize("spec", SPECS, ids=[p.name for p in SPECS])
def test_route_regexes_match_their_own_path_only(spec: Path) -> None:
    for route in _plan(spec)["routes"]:
        path = route["operation"].split(" ", 1)[1]
        regex = _kong_regex(route["paths"][0])
        sample = _sample(route["paths"][0], path)
        assert regex.fullmatch(sample), f"{route['name']}: {route['paths'][0]} does not match {sample}"
        assert not regex.match(sample + "/extra"), f"{route['name']}: not anchored"
        assert not regex.match("/prefix" + sample), f"{route['name']}: matches under another prefix"
        if "{" in path:
            assert not regex.match(sample.replace("x1", "a/b", 1)), f"{route['name']}: a parameter spans segments"


@pytest.mark.parametrize("spec", BAD_SPECS, ids=[p.name for p in BAD_SPECS])
def test_bad_specs_render_nothing_and_say_where(spec: Path) -> None:
    proc = _run("render", "--openapi", str(spec), "--name", RELEASE)
    assert proc.returncode == 2, proc.stdout[:500]
    assert not proc.stdout.strip(), "nothing may be rendered from a bad spec"
    assert str(spec) in proc.stderr and ("at /" in proc.stderr or re.search(r":\d+:\d+:", proc.stderr)
                                         or "no paths" in proc.stderr or "not supported" in proc.stderr), proc.stderr
