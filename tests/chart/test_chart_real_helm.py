"""The bundled chart checked with real Helm (helm-python-sdk), for the defaults and every chart/ci file.

Per value set: Kubernetes 1.30 strict schema validation of every object, Kong custom resources
against Kong's CRDs, `helm lint`, checkov with zero failed checks, and the semantics the product
relies on (secrets never in ConfigMaps, DATABASE_URL from a Secret, PDB/HPA rules, default-deny
NetworkPolicy, Kong Ingress annotations, security context, checksums, labels). Plus schema tests
and a check that the ci files switch every boolean toggle of values.yaml both ways.
"""

from __future__ import annotations

import base64
import concurrent.futures
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from helm_python import lint

from chart_support import (
    CHART_DIR,
    KONG_CRDS_FILE,
    KUBE_VERSION,
    NAMESPACE,
    RELEASE,
    VALUE_SET_IDS,
    by_name,
    chart,
    chart_defaults,
    deep_merge,
    documents,
    effective_components,
    effective_values,
    iter_pod_templates,
    objects,
    of_kind,
    render,
    render_set,
    value_sets,
    values_of,
)

# Kinds kubernetes-validate has no schema for; every other kind must validate.
CUSTOM_KINDS = {
    ("configuration.konghq.com/v1", "KongPlugin"),
    ("configuration.konghq.com/v1", "KongClusterPlugin"),
    ("configuration.konghq.com/v1", "KongConsumer"),
    ("configuration.konghq.com/v1", "KongIngress"),
    ("configuration.konghq.com/v1beta1", "KongUpstreamPolicy"),
    ("external-secrets.io/v1beta1", "ExternalSecret"),
    ("external-secrets.io/v1beta1", "SecretStore"),
}

# Checkov checks the chart deliberately does not meet (each annotated with its reason in the
# chart). A new skip must be added here on purpose, after review.
ALLOWED_CHECKOV_SKIPS = {
    "CKV_K8S_43": "image digests",
    "CKV_K8S_35": "secrets as environment variables",
    "CKV_K8S_15": "pull policy IfNotPresent",
    "CKV_K8S_38": "service account token, only where a component asks for it",
    "CKV2_K8S_6": "pods without NetworkPolicy, only when networkPolicy.enabled is false",
}

RELEASE_LABELS = {
    "app.kubernetes.io/name": "justpush",
    "app.kubernetes.io/instance": RELEASE,
    "app.kubernetes.io/managed-by": "Helm",
    "helm.sh/chart": "justpush-0.1.0",
}


def obj_id(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


# ---------------------------------------------------------------------------------------------
# Kubernetes schema validation


@pytest.mark.parametrize("set_id", VALUE_SET_IDS)
def test_every_object_validates_against_kubernetes_1_30_strict(set_id: str) -> None:
    objs = objects(set_id)
    assert objs, "the chart rendered nothing"
    errors = []
    validated = 0
    for obj in objs:
        key = (obj.get("apiVersion"), obj.get("kind"))
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
            validated += 1
        except kubernetes_validate.SchemaNotFoundError:
            if key not in CUSTOM_KINDS:
                errors.append(f"{obj_id(obj)}: no Kubernetes {KUBE_VERSION} schema for {key}")
        except kubernetes_validate.ValidationError as err:
            path = ".".join(str(p) for p in err.path)
            errors.append(f"{obj_id(obj)}: {path}: {err.message}")
    assert not errors, "\n".join(errors)
    assert validated >= 8


# ---------------------------------------------------------------------------------------------
# Kong custom resources against Kong's CRDs


def _strict(schema: Any) -> Any:
    """Make an openAPIV3Schema reject unknown fields, as the API server prunes them silently."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def _kong_crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    schemas = {}
    with open(KONG_CRDS_FILE, encoding="utf-8") as fh:
        for crd in yaml.safe_load_all(fh):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group = crd["spec"]["group"]
            kind = crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schemas[(f"{group}/{version['name']}", kind)] = _strict(
                    version["schema"]["openAPIV3Schema"]
                )
    return schemas


@pytest.fixture(scope="session")
def kong_crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    assert KONG_CRDS_FILE.is_file(), f"Kong CRDs not found at {KONG_CRDS_FILE} (set JUSTPUSH_KONG_DIR)"
    schemas = _kong_crd_schemas()
    assert ("configuration.konghq.com/v1", "KongPlugin") in schemas
    return schemas


@pytest.mark.parametrize("set_id", VALUE_SET_IDS)
def test_kong_resources_validate_against_kong_crds(set_id: str, kong_crd_schemas) -> None:
    kong_objs = [o for o in objects(set_id) if o["apiVersion"].split("/")[0].endswith("konghq.com")]
    kong_on = effective_values(values_of(set_id))["kong"]["enabled"]
    assert bool(kong_objs) == kong_on, "Kong resources must exist exactly when kong.enabled"
    errors = []
    for obj in kong_objs:
        schema = kong_crd_schemas.get((obj["apiVersion"], obj["kind"]))
        if schema is None:
            errors.append(f"{obj_id(obj)}: no CRD for {obj['apiVersion']} {obj['kind']}")
            continue
        for err in jsonschema.Draft7Validator(schema).iter_errors(obj):
            errors.append(f"{obj_id(obj)}: {'/'.join(map(str, err.path))}: {err.message}")
    assert not errors, "\n".join(errors)


def test_crd_validation_catches_a_misspelt_kong_field(kong_crd_schemas) -> None:
    plugin = {
        "apiVersion": "configuration.konghq.com/v1",
        "kind": "KongPlugin",
        "metadata": {"name": "x"},
        "plugin": "cors",
        "konfig": {},
    }
    schema = kong_crd_schemas[("configuration.konghq.com/v1", "KongPlugin")]
    assert list(jsonschema.Draft7Validator(schema).iter_errors(plugin))


# ---------------------------------------------------------------------------------------------
# helm lint


@pytest.mark.parametrize("set_id", VALUE_SET_IDS)
def test_helm_lint_reports_no_error_or_warning(set_id: str) -> None:
    report = lint(str(CHART_DIR), values_of(set_id), strict=True, kube_version=f"v{KUBE_VERSION}")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems, json.dumps(problems, indent=2)
    assert not report.get("errors"), report["errors"]


# ---------------------------------------------------------------------------------------------
# checkov


def _checkov_bin() -> str:
    candidate = Path(sys.executable).with_name("checkov")
    return str(candidate) if candidate.exists() else "checkov"


def _run_checkov(set_id: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"checkov-{set_id}-") as tmp:
        for path, text in render_set(set_id).items():
            if path.endswith("NOTES.txt") or not text.strip():
                continue
            Path(tmp, path.replace("/", "__")).write_text(text, encoding="utf-8")
        proc = subprocess.run(
            [_checkov_bin(), "-d", tmp, "--framework", "kubernetes", "--compact", "--quiet",
             "-o", "json", "--skip-download"],
            capture_output=True, text=True, timeout=600,
            env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"},
        )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"checkov printed no JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}")
    return report


@pytest.fixture(scope="session")
def checkov_reports():
    """Starts checkov for every value set at once (it is slow); tests wait for their own."""
    for set_id in VALUE_SET_IDS:
        render_set(set_id)  # render in this thread: the Helm library is not used concurrently
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
    futures = {set_id: pool.submit(_run_checkov, set_id) for set_id in VALUE_SET_IDS}
    yield futures
    pool.shutdown(wait=True)


@pytest.mark.parametrize("set_id", VALUE_SET_IDS)
def test_checkov_reports_no_failed_check(set_id: str, checkov_reports) -> None:
    report = checkov_reports[set_id].result()
    reports = report if isinstance(report, list) else [report]
    kube = [r for r in reports if r.get("check_type") == "kubernetes"]
    assert kube, f"checkov ran no kubernetes checks: {report}"
    summary = kube[0]["summary"]
    failed = kube[0]["results"].get("failed_checks", [])
    lines = [f"{c['check_id']} {c['check_name']} on {c['resource']}" for c in failed]
    assert summary["failed"] == 0 and not failed, "\n".join(lines)
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= 8 and summary["passed"] > 50


@pytest.mark.parametrize("set_id", VALUE_SET_IDS)
def test_checkov_skips_are_reviewed_and_explained(set_id: str) -> None:
    for obj in objects(set_id):
        for key, value in (obj["metadata"].get("annotations") or {}).items():
            if not key.startswith("checkov.io/skip"):
                continue
            check, _, reason = value.partition("=")
            assert check in ALLOWED_CHECKOV_SKIPS, f"{obj_id(obj)}: unreviewed skip {check}"
            assert len(reason) > 20, f"{obj_id(obj)}: skip {check} needs a reason"
            if check == "CKV_K8S_15":
                pulls = {c["imagePullPolicy"] for c in _containers_of(obj)}
                assert pulls != {"Always"}, f"{obj_id(obj)}: CKV_K8S_15 skipped but pullPolicy is Always"
            if check == "CKV_K8S_38":
                pod = next(tpl for _, tpl in iter_pod_templates([obj]))
                assert pod["spec"]["automountServiceAccountToken"] is True, f"{obj_id(obj)}: needless CKV_K8S_38 skip"
            if check == "CKV2_K8S_6":
                assert not of_kind(objects(set_id), "NetworkPolicy"), f"{obj_id(obj)}: needless CKV2_K8S_6 skip"


def _containers_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    for workload, tpl in iter_pod_templates([obj]):
        return tpl["spec"]["containers"]
    return []


# ---------------------------------------------------------------------------------------------
# values.schema.json


@pytest.mark.parametrize("set_id", VALUE_SET_IDS)
def test_schema_accepts_every_value_set(set_id: str) -> None:
    chart().validate_schema(values_of(set_id))
    chart().validate_schema(effective_values(values_of(set_id)))


BAD_VALUES = [
    ({"components": {"backend": {"port": 0}}}, "/components/backend/port"),
    ({"components": {"backend": {"replicas": "2"}}}, "/components/backend/replicas"),
    ({"components": {"backend": {"imagee": {}}}}, "/components/backend"),
    ({"components": {"Bad_Name": {"port": 80}}}, "Bad_Name"),
    ({"components": {"database": {"port": 80}}}, "database"),
    ({"components": {"frontend": {"image": {"pullPolicy": "Sometimes"}}}}, "/components/frontend/image/pullPolicy"),
    ({"components": {"frontend": {"image": {"tag": 16}}}}, "/components/frontend/image/tag"),
    ({"components": {"frontend": {"env": {"1BAD": "x"}}}}, "1BAD"),
    ({"components": {"frontend": {"resources": {"limits": {"cpu": "lots"}}}}}, "/components/frontend/resources/limits/cpu"),
    ({"kong": {"auth": {"type": "basic-auth"}}}, "/kong/auth/type"),
    ({"kong": {"rateLimiting": {"minute": 0}}}, "/kong/rateLimiting/minute"),
    ({"kong": {"routes": [{"name": "r", "paths": ["/x"]}]}}, "/kong/routes/0"),
    ({"kong": {"routes": [{"name": "r", "paths": ["x"], "component": "backend"}]}}, "/kong/routes/0/paths/0"),
    ({"database": {"auth": {"password": "p@ss word"}}}, "/database/auth/password"),
    ({"database": {"backup": {"retentionDays": 0}}}, "/database/backup/retentionDays"),
    ({"database": {"backup": {"schedule": "daily"}}}, "/database/backup/schedule"),
    ({"networkPolicy": {"egress": [{"cidr": "10.0.0.0", "ports": [{"port": 443}]}]}}, "/networkPolicy/egress/0/cidr"),
    ({"networkPolicy": {"egress": [{"cidr": "10.0.0.0/8", "ports": [{"port": 443, "protocol": "ICMP"}]}]}}, "/networkPolicy/egress/0/ports/0/protocol"),
    ({"quota": {"enabled": "yes"}}, "/quota/enabled"),
    ({"externalSecrets": {"secretStoreRef": {"kind": "Vault"}}}, "/externalSecrets/secretStoreRef/kind"),
    ({"podSecurity": {"runAsUser": 0}}, "/podSecurity/runAsUser"),
    ({"unknownTopLevel": True}, "unknownTopLevel"),
]


@pytest.mark.parametrize("bad,path", BAD_VALUES, ids=[p for _, p in BAD_VALUES])
def test_schema_rejects_bad_values_naming_the_path(bad: dict[str, Any], path: str) -> None:
    with pytest.raises(Exception) as excinfo:
        chart().validate_schema(bad)
    assert path in str(excinfo.value), str(excinfo.value)
    # A plain render must refuse them too (helm install validates the same schema).
    with pytest.raises(Exception):
        render(bad)


def test_schema_sets_additional_properties_false_on_every_defined_object() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    open_objects = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and node.get("additionalProperties") is not False:
                open_objects.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(schema, "#")
    assert not open_objects, open_objects


def test_every_values_key_is_documented() -> None:
    """Every key of values.yaml has a comment line right above it, unless it sits inside a
    documented block of plain data (quota.hard, a label selector, ...) that has no comments."""
    lines = (CHART_DIR / "values.yaml").read_text().splitlines()
    keys = []  # (line index, indent, documented)
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)([A-Za-z0-9_.\-/]+):(\s|$)", line)
        if not m:
            continue
        prev = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        keys.append((i, len(m.group(1)), prev.startswith("#")))

    def block_end(index: int, indent: int) -> int:
        for j in range(index + 1, len(lines)):
            if lines[j].strip() and len(lines[j]) - len(lines[j].lstrip()) <= indent:
                return j
        return len(lines)

    def is_data_block(index: int, indent: int) -> bool:
        return not any(lines[j].strip().startswith("#") for j in range(index + 1, block_end(index, indent)))

    undocumented = []
    for n, (i, indent, documented) in enumerate(keys):
        if documented:
            continue
        ancestors, level = [], indent
        for j, a_indent, a_doc in reversed(keys[:n]):
            if a_indent < level:
                ancestors.append((j, a_indent, a_doc))
                level = a_indent
        if any(a_doc and is_data_block(j, a_indent) for j, a_indent, a_doc in ancestors):
            continue
        undocumented.append(f"values.yaml:{i + 1}: {lines[i].strip()}")
    assert not undocumented, "\n".join(undocumented)


# ---------------------------------------------------------------------------------------------
# Toggle coverage of the ci files


def _bool_leaves(node: Any, prefix: str = "") -> dict[str, bool]:
    out = {}
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, bool):
                out[path] = value
            elif isinstance(value, dict):
                out.update(_bool_leaves(value, path))
    return out


def _normalise_toggle(path: str) -> str:
    """componentDefaults.x and components.<any>.x are the same per-component toggle."""
    parts = path.split(".")
    if parts[0] == "componentDefaults":
        return "component." + ".".join(parts[1:])
    if parts[0] == "components" and len(parts) > 2:
        return "component." + ".".join(parts[2:])
    return path


def _observed_toggles(values: dict[str, Any]) -> dict[str, set[bool]]:
    seen: dict[str, set[bool]] = {}
    eff = effective_values(values)
    top = {k: v for k, v in eff.items() if k not in ("components", "componentDefaults")}
    for path, value in _bool_leaves(top).items():
        seen.setdefault(path, set()).add(value)
    for comp in effective_components(values).values():
        for path, value in _bool_leaves(comp).items():
            seen.setdefault("component." + path, set()).add(value)
    return seen


def test_ci_files_switch_every_boolean_toggle_both_ways() -> None:
    toggles = {_normalise_toggle(p) for p in _bool_leaves(chart_defaults())}
    assert len(toggles) >= 20, sorted(toggles)
    seen: dict[str, set[bool]] = {}
    for _, values in value_sets():
        for path, vals in _observed_toggles(values).items():
            seen.setdefault(path, set()).update(vals)
    one_way = {t: sorted(seen.get(t, set())) for t in sorted(toggles) if seen.get(t) != {True, False}}
    assert not one_way, f"toggles never switched both ways by chart/ci/*.yaml: {one_way}"


def test_at_least_twelve_ci_value_sets() -> None:
    assert len(VALUE_SET_IDS) - 1 >= 12


# ---------------------------------------------------------------------------------------------
# Semantics


def _decoded_secret_values(objs: list[dict[str, Any]]) -> dict[str, str]:
    out = {}
    for secret in of_kind(objs, "Secret"):
        for key, value in (secret.get("data") or {}).items():
            out[f"{secret['metadata']['name']}.{key}"] = base64.b64decode(value).decode()
        for key, value in (secret.get("stringData") or {}).items():
            out[f"{secret['metadata']['name']}.{key}"] = str(value)
    return out


@pytest.mark.parametrize("set_id", VALUE_SET_IDS)
def test_secret_data_never_lands_in_a_configmap(set_id: str) -> None:
    objs = objects(set_id)
    secrets = _decoded_secret_values(objs)
    comps = effective_components(values_of(set_id))
    secret_keys = {k for c in comps.values() for k in (c.get("secretEnv") or {})} | {"DATABASE_URL"}
    for cm in of_kind(objs, "ConfigMap"):
        data = cm.get("data") or {}
        assert not secret_keys & set(data), f"{obj_id(cm)} holds secret keys {secret_keys & set(data)}"
        text = yaml.safe_dump(data)
        for where, value in secrets.items():
            if len(value) >= 8 and not where.endswith((".username", ".database", ".port", ".host", ".algorithm")):
                assert value not in text, f"{obj_id(cm)} contains the value of Secret {where}"
        assert "postgresql://" not in text


@pytest.mark.parametrize("set_id", VALUE_SET_IDS)
def test_secret_env_is_rendered_as_a_secret_loaded_by_the_pods(set_id: str) -> None:
    objs = objects(set_id)
    secrets = by_name(objs, "Secret")
    deployments = by_name(objs, "Deployment")
    for name, comp in effective_components(values_of(set_id)).items():
        if not comp["enabled"]:
            continue
        deploy = next(d for d in deployments.values() if d["metadata"]["labels"]["app.kubernetes.io/component"] == name)
        container = deploy["spec"]["template"]["spec"]["containers"][0]
        secret_refs = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
        cm_refs = [e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e]
        assert cm_refs and cm_refs[0] in by_name(objs, "ConfigMap")
        if comp["existingSecret"]:
            assert comp["existingSecret"] in secret_refs
            assert comp["existingSecret"] not in secrets, "existingSecret must not be rendered"
        else:
            own = secret_refs[0]
            assert own in secrets
            decoded = {k: base64.b64decode(v).decode() for k, v in (secrets[own].get("data") or {}).items()}
            assert decoded == {k: str(v) for k, v in (comp["secretEnv"] or {}).items()}


@pytest.mark.parametrize("set_id", VALUE_SET_IDS)
def test_database_url_comes_from_a_secret(set_id: str) -> None:
    objs = objects(set_id)
    values = effective_values(values_of(set_id))
    comps = effective_components(values_of(set_id))
    secrets = by_name(objs, "Secret")
    users = set()
    for workload, tpl in iter_pod_templates(objs):
        for container in tpl["spec"]["containers"]:
            for env in container.get("env") or []:
                if env["name"] != "DATABASE_URL":
                    continue
                assert "value" not in env, f"{obj_id(workload)}: literal DATABASE_URL"
                ref = env["valueFrom"]["secretKeyRef"]
                assert ref["name"] in secrets and ref["key"] in secrets[ref["name"]]["data"]
                url = base64.b64decode(secrets[ref["name"]]["data"][ref["key"]]).decode()
                assert re.fullmatch(r"postgresql://[a-z_0-9]+:[A-Za-z0-9._~-]+@[-a-z0-9.]+\.svc:5432/[a-z_0-9]+", url), url
                users.add(workload["metadata"]["labels"]["app.kubernetes.io/component"])
    expected = {n for n, c in comps.items() if c["enabled"] and c["usesDatabase"]} if values["database"]["enabled"] else set()
    assert users == expected


@pytest.mark.parametrize("set_id", VALUE_SET_IDS)
def test_database_objects(set_id: str) -> None:
    objs = objects(set_id)
    db = effective_values(values_of(set_id))["database"]
    statefulsets = of_kind(objs, "StatefulSet")
    cronjobs = of_kind(objs, "CronJob")
    if not db["enabled"]:
        assert not statefulsets and not cronjobs
        return
    (sts,) = statefulsets
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == db["persistence"]["size"]
    assert claim["spec"].get("storageClassName", "") == db["persistence"]["storageClass"]
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == db["persistence"]["retentionPolicy"]
    service = by_name(objs, "Service")[sts["spec"]["serviceName"]]
    assert service["spec"]["clusterIP"] == "None"
    secret = by_name(objs, "Secret")[sts["metadata"]["name"]]
    password = base64.b64decode(secret["data"]["password"]).decode()
    if db["auth"]["password"]:
        assert password == db["auth"]["password"]
    else:
        assert re.fullmatch(r"[A-Za-z0-9]{32}", password), "generated password must be 32 alphanumerics"
    url = base64.b64decode(secret["data"]["DATABASE_URL"]).decode()
    assert f":{password}@" in url
    if db["backup"]["enabled"]:
        (cron,) = cronjobs
        assert cron["spec"]["schedule"] == db["backup"]["schedule"]
        script = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][-1]
        assert "pg_dump" in script and f"-mtime +{db['backup']['retentionDays']}" in script
        pvc = by_name(objs, "PersistentVolumeClaim")[
            cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]]
        keep = (pvc["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") == "keep"
        assert keep == db["backup"]["persistence"]["keep"]
    else:
        assert not cronjobs and not of_kind(objs, "PersistentVolumeClaim")


def _hpa_targets(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(objs, "HorizontalPodAutoscaler")}


@pytest.mark.parametrize("set_id", VALUE_SET_IDS)
def test_hpa_omits_replicas_and_pdb_only_when_more_than_one_pod(set_id: str) -> None:
    objs = objects(set_id)
    hpas = _hpa_targets(objs)
    pdbs = {p["metadata"]["name"]: p for p in of_kind(objs, "PodDisruptionBudget")}
    comps = effective_components(values_of(set_id))
    for deploy in of_kind(objs, "Deployment"):
        name = deploy["metadata"]["name"]
        comp = comps[deploy["metadata"]["labels"]["app.kubernetes.io/component"]]
        if name in hpas:
            assert comp["autoscaling"]["enabled"]
            assert "replicas" not in deploy["spec"], f"{name}: HPA-managed Deployment sets replicas"
            hpa = hpas[name]
            assert hpa["apiVersion"] == "autoscaling/v2"
            assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
            assert hpa["spec"]["minReplicas"] == comp["autoscaling"]["minReplicas"]
            assert hpa["spec"]["maxReplicas"] == comp["autoscaling"]["maxReplicas"]
            metrics = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["spec"]["metrics"]}
            expected = {"cpu": comp["autoscaling"]["targetCPUUtilizationPercentage"],
                        "memory": comp["autoscaling"]["targetMemoryUtilizationPercentage"]}
            assert metrics == {k: v for k, v in expected.items() if v}
            pods = hpa["spec"]["minReplicas"]
        else:
            assert not comp["autoscaling"]["enabled"]
            assert deploy["spec"]["replicas"] == comp["replicas"]
            pods = deploy["spec"]["replicas"]
        if pods > 1:
            assert name in pdbs, f"{name}: {pods} pods but no PodDisruptionBudget"
            assert pdbs[name]["spec"]["selector"] == deploy["spec"]["selector"]
            assert pdbs[name]["apiVersion"] == "policy/v1"
        else:
            assert name not in pdbs, f"{name}: a PDB on a single pod blocks node drains"
    assert set(pdbs) <= {d["metadata"]["name"] for d in of_kind(objs, "Deployment")}


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert not selector.get("matchExpressions"), "tests only understand matchLabels"
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


@pytest.mark.parametrize("set_id", VALUE_SET_IDS)
def test_network_policies_deny_by_default_and_allow_the_intended_paths(set_id: str) -> None:
    objs = objects(set_id)
    values = effective_values(values_of(set_id))
    policies = of_kind(objs, "NetworkPolicy")
    pods = [(w, tpl["metadata"]["labels"]) for w, tpl in iter_pod_templates(objs)]
    if not values["networkPolicy"]["enabled"]:
        assert not policies
        return
    deny = [p for p in policies if sorted(p["spec"]["policyTypes"]) == ["Egress", "Ingress"]
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert deny, "no default-deny NetworkPolicy"
    for workload, labels in pods:
        assert any(_selects(p["spec"]["podSelector"], labels) for p in deny), f"{obj_id(workload)} escapes default-deny"
        own = [p for p in policies if p not in deny and _selects(p["spec"]["podSelector"], labels)]
        assert own, f"{obj_id(workload)} has no allow policy (it could not even resolve DNS)"
        egress_ports = {(port["port"], port["protocol"]) for p in own for rule in p["spec"].get("egress", []) for port in rule.get("ports", [])}
        assert {(53, "UDP"), (53, "TCP")} <= egress_ports, f"{obj_id(workload)}: no DNS egress"

    comps = effective_components(values_of(set_id))
    label_of = {w["metadata"]["labels"]["app.kubernetes.io/component"]: l for w, l in pods}

    def ingress_peers(component: str) -> list[dict[str, Any]]:
        return [peer for p in policies if p not in deny and _selects(p["spec"]["podSelector"], label_of[component])
                for rule in p["spec"].get("ingress", []) for peer in rule["from"]]

    gateway = values["networkPolicy"]["gateway"]
    routes = values["kong"]["routes"] if values["kong"]["enabled"] else []
    routed = {r["component"] for r in routes if r.get("component")}
    for name, comp in comps.items():
        if not comp["enabled"]:
            continue
        peers = ingress_peers(name)
        from_gateway = any(p.get("podSelector") == gateway["podSelector"] and p.get("namespaceSelector") == gateway["namespaceSelector"] for p in peers)
        if routes:
            expected = name in routed or (values["kong"]["keepComponentRoutes"] and comp["exposed"])
        else:
            expected = comp["exposed"]
        assert from_gateway == expected, f"{name}: gateway ingress {from_gateway}, expected {expected}"
        for target in comp["talksTo"]:
            if comps.get(target, {}).get("enabled"):
                assert any(_selects(p.get("podSelector", {}), label_of[name]) for p in ingress_peers(target)), \
                    f"{name} -> {target} not allowed"
        if not any(name in (c["talksTo"] or []) for c in comps.values() if c["enabled"]) and not expected:
            assert not peers, f"{name} accepts traffic from {peers}"
    if values["database"]["enabled"]:
        db_peers = ingress_peers("database")
        for name, comp in comps.items():
            allowed = any(_selects(p.get("podSelector", {}), label_of[name]) for p in db_peers) if comp["enabled"] else False
            assert allowed == (comp["enabled"] and comp["usesDatabase"]), f"{name} -> database: {allowed}"
        if values["database"]["backup"]["enabled"]:
            assert any(_selects(p.get("podSelector", {}), label_of["backup"]) for p in db_peers)
    for rule in values["networkPolicy"]["egress"]:
        for name, comp in comps.items():
            if not comp["enabled"]:
                continue
            applies = not rule.get("components") or name in rule["components"]
            cidrs = [peer["ipBlock"]["cidr"] for p in policies if _selects(p["spec"]["podSelector"], label_of[name])
                     for r in p["spec"].get("egress", []) for peer in r["to"] if "ipBlock" in peer]
            assert (rule["cidr"] in cidrs) == applies, f"{name}: egress to {rule['cidr']}"


@pytest.mark.parametrize("set_id", VALUE_SET_IDS)
def test_kong_ingresses_use_the_class_and_plugins(set_id: str) -> None:
    objs = objects(set_id)
    values = effective_values(values_of(set_id))
    kong = values["kong"]
    ingresses = of_kind(objs, "Ingress")
    if not kong["enabled"]:
        assert not ingresses
        return
    plugins = {p["metadata"]["name"]: p for p in of_kind(objs, "KongPlugin")}
    external = {p for r in kong["routes"] for p in r.get("plugins", []) if p not in ("cors", "auth", "rate-limiting")}
    empty_plugin_routes = {f"{RELEASE}-justpush-route-{r['name']}" for r in kong["routes"] if r.get("plugins") == []}
    assert ingresses
    for ing in ingresses:
        annotations = ing["metadata"]["annotations"]
        name = ing["metadata"]["name"]
        assert ing["spec"]["ingressClassName"] == kong["ingressClassName"] == "kong"
        assert annotations["konghq.com/strip-path"] in ("true", "false")
        if name in empty_plugin_routes:
            assert "konghq.com/plugins" not in annotations
            continue
        listed = annotations["konghq.com/plugins"].split(",")
        assert listed
        for plugin in listed:
            assert plugin in plugins or plugin in external, f"{name}: unknown plugin {plugin}"
    if not kong["routes"]:
        assert all(i["metadata"]["annotations"]["konghq.com/strip-path"] == "false" for i in ingresses)
        comps = effective_components(values_of(set_id))
        exposed = {n for n, c in comps.items() if c["enabled"] and c["exposed"]}
        assert {i["metadata"]["labels"]["app.kubernetes.io/component"] for i in ingresses} == exposed
        for ing in ingresses:
            comp = comps[ing["metadata"]["labels"]["app.kubernetes.io/component"]]
            listed = ing["metadata"]["annotations"].get("konghq.com/plugins", "").split(",")
            auth = [p for p in listed if plugins.get(p, {}).get("plugin") in ("key-auth", "jwt")]
            assert bool(auth) == (comp["authRequired"] and kong["auth"]["type"] != "none")
            (path,) = ing["spec"]["rules"][0]["http"]["paths"]
            assert path["path"] == comp["path"]
    else:
        comps = effective_components(values_of(set_id))
        targeted = {r.get("component") for r in kong["routes"]}
        kept = {n for n, c in comps.items() if c["enabled"] and c["exposed"] and n not in targeted} if kong["keepComponentRoutes"] else set()
        assert len(ingresses) == len(kong["routes"]) + len(kept)
    consumers = {c["metadata"]["name"]: c for c in of_kind(objs, "KongConsumer")}
    anonymous = consumers.pop(f"{RELEASE}-justpush-anonymous", None)
    assert (anonymous is not None) == kong["anonymousConsumer"]["enabled"]
    if anonymous is not None:
        assert "credentials" not in anonymous
        for plugin in anonymous["metadata"]["annotations"]["konghq.com/plugins"].split(","):
            assert plugins[plugin]["plugin"] == "request-termination"
    types = ([kong["auth"]["type"]] if kong["auth"]["type"] != "none" else []) + kong["consumer"]["extraCredentials"]
    types = list(dict.fromkeys(types))
    if types:
        (consumer,) = consumers.values()
        assert consumer["metadata"]["annotations"]["kubernetes.io/ingress.class"] == "kong"
        assert len(consumer["credentials"]) == len(types)
        for cred_name, cred_type in zip(consumer["credentials"], types):
            cred = by_name(objs, "Secret")[cred_name]
            assert cred["metadata"]["labels"]["konghq.com/credential"] == cred_type
            if cred_type == "key-auth":
                key = base64.b64decode(cred["data"]["key"]).decode()
                assert key == kong["consumer"]["apiKey"] or (not kong["consumer"]["apiKey"] and re.fullmatch(r"[A-Za-z0-9]{64}", key))
            elif cred_type == "jwt":
                assert set(cred["data"]) == {"key", "algorithm", "secret"}
            else:
                assert set(cred["data"]) == {"username", "password"}
    else:
        assert not consumers


@pytest.mark.parametrize("set_id", VALUE_SET_IDS)
def test_workloads_are_hardened(set_id: str) -> None:
    objs = objects(set_id)
    comps = effective_components(values_of(set_id))
    workloads = list(iter_pod_templates(objs))
    assert workloads
    for workload, tpl in workloads:
        spec = tpl["spec"]
        where = obj_id(workload)
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["seccompProfile"]["type"] == "RuntimeDefault"
        assert all(isinstance(psc[k], int) and psc[k] > 0 for k in ("runAsUser", "runAsGroup", "fsGroup"))
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", where
            assert sc["runAsNonRoot"] is True
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], f"{where}: /tmp must be an emptyDir"
            res = container["resources"]
            assert {"cpu", "memory"} <= set(res["requests"]) and {"cpu", "memory"} <= set(res["limits"]), where
        if workload["kind"] == "Deployment":
            comp = comps[workload["metadata"]["labels"]["app.kubernetes.io/component"]]
            assert spec["automountServiceAccountToken"] is comp["serviceAccount"]["automountToken"]
            assert workload["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
            (container,) = spec["containers"]
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                # healthCheck tcp (no HTTP path answers, as the build's probe found): a TCP check.
                if comp.get("healthCheck") == "tcp":
                    assert container[probe]["tcpSocket"] == {"port": "http"}, f"{where} {probe}"
                    assert "httpGet" not in container[probe], f"{where} {probe}"
                else:
                    assert container[probe]["httpGet"] == {"path": comp["healthPath"], "port": "http"}, f"{where} {probe}"
            annotations = tpl["metadata"]["annotations"]
            assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/config"])
            assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/secret"])
            by_path = {m["mountPath"]: m for m in container["volumeMounts"]}
            persistent = comp.get("persistence", {}).get("enabled", False)
            claims = {c["metadata"]["name"]: c for c in of_kind(objs, "PersistentVolumeClaim")}
            used = set()
            for path in comp["writablePaths"]:
                mount = by_path[path]
                volume = volumes[mount["name"]]
                if persistent:
                    # A ReadWriteOnce claim per path, mounted whole: the kubelet makes a missing
                    # subPath directory root 0755, which fsGroup does not reach.
                    assert "subPath" not in mount, f"{where}: {path} on a subPath"
                    claim = volume["persistentVolumeClaim"]["claimName"]
                    assert claim in claims and claim not in used, f"{where}: {path} -> {claim}"
                    used.add(claim)
                    assert claims[claim]["spec"]["accessModes"] == ["ReadWriteOnce"]
                    assert claims[claim]["spec"]["resources"]["requests"]["storage"] == comp["persistence"]["size"]
                    assert workload["spec"]["replicas"] == 1, f"{where}: a ReadWriteOnce claim needs one replica"
                else:
                    assert "emptyDir" in volume, f"{where}: {path} must be an emptyDir"
            # HOME is a writable directory whatever the image set (its own Dockerfile may not).
            home = {e["name"]: e for e in container.get("env") or []}["HOME"]["value"]
            assert any(home == p or home.startswith(p.rstrip("/") + "/") for p in ["/tmp", *comp["writablePaths"]]), f"{where}: HOME {home}"
            # Nothing but /tmp and the writable paths is writable: no other volume is mounted.
            assert set(by_path) <= {"/tmp", *comp["writablePaths"]}, f"{where}: {sorted(by_path)}"
        else:
            assert spec["automountServiceAccountToken"] is False


def test_checksums_follow_the_component_config_and_secret() -> None:
    base = objects("defaults")
    changed_env = render({"components": {"backend": {"env": {"LOG_LEVEL": "debug"}}}})
    changed_secret = render({"components": {"frontend": {"secretEnv": {"TOKEN": "abc123456"}}}})

    def sums(objs):
        return {d["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]["template"]["metadata"]["annotations"]
                for d in of_kind(objs, "Deployment")}

    before = sums(base)
    after_env = sums([d for _, d in documents(changed_env)])
    after_secret = sums([d for _, d in documents(changed_secret)])
    assert after_env["backend"]["checksum/config"] != before["backend"]["checksum/config"]
    assert after_env["backend"]["checksum/secret"] == before["backend"]["checksum/secret"]
    assert after_env["frontend"] == before["frontend"]
    assert after_secret["frontend"]["checksum/secret"] != before["frontend"]["checksum/secret"]
    assert after_secret["frontend"]["checksum/config"] == before["frontend"]["checksum/config"]
    assert after_secret["backend"] == before["backend"]


@pytest.mark.parametrize("set_id", VALUE_SET_IDS)
def test_every_object_carries_the_release_labels(set_id: str) -> None:
    values = values_of(set_id)
    for obj in objects(set_id):
        labels = obj["metadata"].get("labels") or {}
        for key, value in RELEASE_LABELS.items():
            assert labels.get(key) == value, f"{obj_id(obj)}: label {key}={labels.get(key)!r}"
        assert labels.get("app.kubernetes.io/component"), obj_id(obj)
        assert labels.get("app.kubernetes.io/version"), obj_id(obj)
        assert obj["metadata"]["namespace"] == NAMESPACE, obj_id(obj)
        for key, value in (values.get("commonLabels") or {}).items():
            assert labels.get(key) == value
    for workload, tpl in iter_pod_templates(objects(set_id)):
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"):
            assert tpl["metadata"]["labels"][key] == workload["metadata"]["labels"][key]


@pytest.mark.parametrize("set_id", VALUE_SET_IDS)
def test_guardrails_and_external_secrets_follow_their_toggles(set_id: str) -> None:
    objs = objects(set_id)
    values = effective_values(values_of(set_id))
    assert bool(of_kind(objs, "ResourceQuota")) == values["quota"]["enabled"]
    assert bool(of_kind(objs, "LimitRange")) == values["limitRange"]["enabled"]
    if values["quota"]["enabled"]:
        (quota,) = of_kind(objs, "ResourceQuota")
        assert quota["spec"]["hard"] == {k: str(v) for k, v in values["quota"]["hard"].items()}
    comps = effective_components(values_of(set_id))
    external = by_name(objs, "ExternalSecret")
    wanted = {n for n, c in comps.items() if c["enabled"] and values["externalSecrets"]["enabled"]
              and (c["externalSecret"]["data"] or c["externalSecret"]["extractKeys"])}
    assert {e["metadata"]["labels"]["app.kubernetes.io/component"] for e in external.values()} == wanted
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in of_kind(objs, "Deployment")}
    for es in external.values():
        comp = es["metadata"]["labels"]["app.kubernetes.io/component"]
        assert es["apiVersion"] == "external-secrets.io/v1beta1"
        assert es["spec"]["target"]["name"] == es["metadata"]["name"]
        refs = [e["secretRef"]["name"] for e in deployments[comp]["spec"]["template"]["spec"]["containers"][0]["envFrom"] if "secretRef" in e]
        assert es["spec"]["target"]["name"] in refs
        stores = by_name(objs, "SecretStore")
        if values["externalSecrets"]["secretStore"]["create"]:
            assert es["spec"]["secretStoreRef"] == {"name": next(iter(stores)), "kind": "SecretStore"}
        else:
            assert not stores
            assert es["spec"]["secretStoreRef"] == values["externalSecrets"]["secretStoreRef"]


def test_explicit_route_values_become_kong_annotations() -> None:
    objs = objects("routes-values")
    ingresses = by_name(objs, "Ingress")
    write = ingresses[f"{RELEASE}-justpush-route-api-write"]
    assert write["metadata"]["annotations"]["konghq.com/methods"] == "POST,PUT,DELETE"
    assert write["metadata"]["annotations"]["konghq.com/strip-path"] == "false"
    assert write["metadata"]["annotations"]["konghq.com/plugins"] == \
        f"{RELEASE}-justpush-cors,{RELEASE}-justpush-key-auth,request-size-limiting"
    legacy = ingresses[f"{RELEASE}-justpush-route-legacy"]
    assert legacy["metadata"]["annotations"]["konghq.com/strip-path"] == "true"
    backend = legacy["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "legacy-api", "port": {"number": 8080}}
    assert legacy["spec"]["rules"][0]["host"] == "api.example.test"


@pytest.mark.parametrize(
    "bad,message",
    [
        ({"kong": {"routes": [{"name": "x", "paths": ["/x"], "component": "nope"}]}}, "not an enabled component"),
        ({"kong": {"rateLimiting": {"enabled": False}, "routes": [{"name": "x", "paths": ["/x"], "component": "backend", "plugins": ["rate-limiting"]}]}}, "rate-limiting"),
        ({"components": {"backend": {"existingSecret": "s", "secretEnv": {"A": "b"}}}}, "either secretEnv or existingSecret"),
        ({"components": {"backend": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}}}, "minReplicas"),
        ({"components": {"worker": {"port": 9000}}}, "repository"),
        ({"kong": {"tls": {"enabled": True}}}, "kong.tls.enabled"),
        ({"externalSecrets": {"enabled": True, "secretStore": {"create": True}}}, "vault.server"),
        ({"components": {"backend": {"replicas": 2, "writablePaths": ["/app/data"], "persistence": {"enabled": True}}}}, "ReadWriteOnce"),
        ({"components": {"backend": {"replicas": 1, "writablePaths": ["/app/a.b", "/app/a-b"], "persistence": {"enabled": True}}}}, "would share the claim"),
    ],
)
def test_inconsistent_values_fail_with_a_clear_message(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(Exception) as excinfo:
        render(bad)
    assert message in str(excinfo.value)


def test_notes_tell_how_to_get_the_api_key() -> None:
    notes = next(text for path, text in render_set("defaults").items() if path.endswith("NOTES.txt"))
    assert f"kubectl -n {NAMESPACE} get secret {RELEASE}-justpush-consumer-key-auth" in notes


# ---------------------------------------------------------------------------------------------
# Template function budget of justpush's own engine

SUPPORTED_FUNCTIONS = set(
    # Go text/template builtins and keywords
    "and or not eq ne lt le gt ge len index printf print if else end range with define template block "
    "true false nil "
    # Helm and Sprig functions the in-process engine implements
    "include tpl required fail toYaml fromYaml toJson nindent indent default empty coalesce ternary quote "
    "squote b64enc b64dec sha256sum trunc trimSuffix trimPrefix trim lower upper replace contains hasPrefix "
    "hasSuffix semverCompare dict list merge mergeOverwrite set unset hasKey keys get pluck omit pick append "
    "concat first last uniq sortAlpha join split splitList toString int int64 float64 add sub mul div max min "
    "lookup randAlphaNum kindIs typeOf regexMatch".split()
)


def _functions_used(text: str) -> set[str]:
    used = set()
    for action in re.findall(r"\{\{(.*?)\}\}", text, flags=re.S):
        body = action.strip("- \t\n")
        if body.startswith("/*"):
            continue
        body = re.sub(r'"(\\.|[^"\\])*"', '""', body)
        body = re.sub(r"`[^`]*`", '""', body)
        used.update(re.findall(r"(?<![.$\w])([A-Za-z_][A-Za-z0-9_]*)", body))
    return used


def test_templates_use_only_functions_the_justpush_engine_implements() -> None:
    assert _functions_used('{{ now | date "2006" }}{{ .Values.x | quote }}') == {"now", "date", "quote"}
    unsupported = {}
    for path in sorted((CHART_DIR / "templates").iterdir()):
        extra = _functions_used(path.read_text()) - SUPPORTED_FUNCTIONS
        if extra:
            unsupported[path.name] = sorted(extra)
    assert not unsupported, unsupported
