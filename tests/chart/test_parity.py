"""Parity of justpush's in-process renderer with real Helm.

For our chart (defaults and every chart/ci/*.yaml; release demo, namespace apps) and for Kong's
official chart (every ci/*.yaml of ../shared/kong/chart-kong-3.4.1; release kong, namespace kong)
both engines render; the documents, keyed by (source, apiVersion, kind, namespace, name), must be
identical after normalisation. NOTES.txt is not compared.

Contract of the binary ($JUSTPUSH_BIN, default target/debug/kubectl-justpush):
    $JUSTPUSH_BIN render CHART_DIR -f VALUES_FILE --name NAME -n NAMESPACE
prints multi-document YAML like `helm template`: every document preceded by a
`# Source: <chart>/templates/<file>` comment line, documents separated by `---`.

Normalisation (explicit and small, see GENERATED_FIELDS): PEM certificates and keys, plain or
base64, become <PEM:CERTIFICATE> / <PEM:KEY>; the generated database password and consumer
credential become <random len=N charset=...> when, and only when, they have the generated shape
(explicit values from the values file are compared exactly). checksum/* annotations are compared
exactly: none of them hashes a generated value, which
test_normalised_real_helm_renders_are_reproducible proves by rendering twice.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import difflib
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from helm_python import Chart

from chart_support import CHART_DIR, KONG_CHART_DIR, NAMESPACE, RELEASE, REPO_ROOT, ci_files

UMBRELLA_DIR = REPO_ROOT / "tests" / "fixtures" / "charts" / "umbrella"
JUSTPUSH_BIN = Path(os.environ.get("JUSTPUSH_BIN", REPO_ROOT / "target" / "debug" / "kubectl-justpush"))

DocKey = tuple[str, str, str, str, str]


@dataclasses.dataclass(frozen=True)
class Case:
    label: str
    chart_dir: Path
    values_file: Path | None  # None: the chart's defaults
    release: str
    namespace: str

    @property
    def id(self) -> str:
        return f"{self.label}:{self.values_file.stem if self.values_file else 'defaults'}"


def _kong_ci_files() -> list[Path]:
    # Value sets only: Kong keeps its snapshot tool config (.chartsnap.yaml) in the same folder.
    return sorted(p for p in (KONG_CHART_DIR / "ci").glob("*.yaml") if not p.name.startswith("."))


LONG_RELEASE = "payments-gateway-settlement-reconciliation-eu-prod"

CASES = (
    [Case("justpush", CHART_DIR, None, RELEASE, NAMESPACE)]
    + [Case("justpush", CHART_DIR, path, RELEASE, NAMESPACE) for path in ci_files()]
    # A 50-character release (Helm allows 53): every generated name is over 63 characters and
    # must be shortened the same way by both engines (justpush.dnsName).
    + [Case("justpush-long-release", CHART_DIR, CHART_DIR / "ci" / f, LONG_RELEASE, NAMESPACE)
       for f in ("openapi-routes-values.yaml", "database-values.yaml", "external-secrets-values.yaml")]
    + [Case("kong", KONG_CHART_DIR, path, "kong", "kong") for path in _kong_ci_files()]
    # Subcharts: alias, condition, tags, globals, a parent define overriding a subchart's, .Files.
    + [Case("umbrella", UMBRELLA_DIR, None, RELEASE, NAMESPACE)]
    + [Case("umbrella", UMBRELLA_DIR, path, RELEASE, NAMESPACE) for path in sorted((UMBRELLA_DIR / "ci").glob("*.yaml"))]
)


# ---------------------------------------------------------------------------------------------
# Rendering with both engines


def _values(case: Case) -> dict[str, Any]:
    if case.values_file is None:
        return {}
    with open(case.values_file, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def helm_documents(case: Case) -> list[tuple[str, dict[str, Any]]]:
    rendered = Chart.load(str(case.chart_dir)).render(_values(case), name=case.release, namespace=case.namespace)
    docs = []
    for source in sorted(rendered):
        if source.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(rendered[source]):
            if doc:
                docs.append((source, doc))
    return docs


def parse_template_stream(text: str) -> list[tuple[str, dict[str, Any]]]:
    """`helm template`-style output into (source, document) pairs; a document without its
    `# Source:` line is a contract violation."""
    docs = []
    for chunk in re.split(r"^---[ \t]*$", text, flags=re.M):
        sources = re.findall(r"^# Source: (\S+)[ \t]*$", chunk, flags=re.M)
        parsed = [d for d in yaml.safe_load_all(chunk) if d]
        if not parsed:
            continue
        assert len(parsed) == 1, f"one document per `---` expected, got {len(parsed)}:\n{chunk[:500]}"
        assert len(sources) == 1, f"document without exactly one `# Source:` line:\n{chunk[:500]}"
        if sources[0].endswith("NOTES.txt"):
            continue
        docs.append((sources[0], parsed[0]))
    return docs


def justpush_documents(case: Case) -> list[tuple[str, dict[str, Any]]]:
    assert JUSTPUSH_BIN.is_file(), (
        f"justpush binary not found at {JUSTPUSH_BIN}: build it (cargo build) or set JUSTPUSH_BIN"
    )
    with tempfile.TemporaryDirectory(prefix="parity-") as tmp:
        values_file = case.values_file
        if values_file is None:
            values_file = Path(tmp, "empty-values.yaml")
            values_file.write_text("{}\n", encoding="utf-8")
        cmd = [str(JUSTPUSH_BIN), "render", str(case.chart_dir), "-f", str(values_file),
               "--name", case.release, "-n", case.namespace]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-4000:]}"
    return parse_template_stream(proc.stdout)


# ---------------------------------------------------------------------------------------------
# Normalisation of generated values

PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----[A-Za-z0-9+/=\s]*?-----END \1-----\n?")
BASE64_TEXT = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def _pem_token(label: str) -> str:
    if "CERTIFICATE" in label:
        return "<PEM:CERTIFICATE>"
    if "KEY" in label:
        return "<PEM:KEY>"
    return f"<PEM:{label}>"


def normalise_pem(value: str) -> str:
    """PEM blocks (plain, or a base64 string of PEM) replaced by their kind."""
    if "-----BEGIN " in value:
        return PEM_BLOCK.sub(lambda m: _pem_token(m.group(1)), value)
    compact = value.strip()
    if len(compact) >= 64 and BASE64_TEXT.fullmatch(compact):
        try:
            decoded = base64.b64decode(compact, validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return value
        if "-----BEGIN " in decoded:
            return f"base64({PEM_BLOCK.sub(lambda m: _pem_token(m.group(1)), decoded)})"
    return value


def _random_token(length: int, charset: str) -> str:
    return f"<random len={length} charset={charset}>"


ALNUM = re.compile(r"[A-Za-z0-9]+")


@dataclasses.dataclass(frozen=True)
class GeneratedField:
    """A field whose value one engine draws at random: compared by shape, not by value."""

    what: str
    matches: Callable[[dict[str, Any]], bool]
    path: tuple[str, ...]
    normalise: Callable[[str], str]  # on the decoded (plain) value


def _random_alnum(length: int) -> Callable[[str], str]:
    def norm(plain: str) -> str:
        if len(plain) == length and ALNUM.fullmatch(plain):
            return _random_token(length, "A-Za-z0-9")
        return plain
    return norm


def _url_with_random_password(plain: str) -> str:
    m = re.fullmatch(r"(postgresql://[^:/@]+:)([A-Za-z0-9]{32})(@.+)", plain)
    return f"{m.group(1)}{_random_token(32, 'A-Za-z0-9')}{m.group(3)}" if m else plain


def _labels(doc: dict[str, Any]) -> dict[str, str]:
    return (doc.get("metadata") or {}).get("labels") or {}


def _is_justpush_database_secret(doc: dict[str, Any]) -> bool:
    return (doc.get("kind") == "Secret" and _labels(doc).get("app.kubernetes.io/name") == "justpush"
            and _labels(doc).get("app.kubernetes.io/component") == "database")


def _is_kong_credential(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda doc: doc.get("kind") == "Secret" and _labels(doc).get("konghq.com/credential") == kind


GENERATED_FIELDS = [
    GeneratedField("justpush database password (randAlphaNum 32)", _is_justpush_database_secret,
                   ("data", "password"), _random_alnum(32)),
    GeneratedField("justpush DATABASE_URL embedding that password", _is_justpush_database_secret,
                   ("data", "DATABASE_URL"), _url_with_random_password),
    GeneratedField("Kong consumer API key (randAlphaNum 64)", _is_kong_credential("key-auth"),
                   ("data", "key"), _random_alnum(64)),
    GeneratedField("Kong consumer JWT secret (randAlphaNum 64)", _is_kong_credential("jwt"),
                   ("data", "secret"), _random_alnum(64)),
    GeneratedField("Kong consumer basic-auth password (randAlphaNum 64)", _is_kong_credential("basic-auth"),
                   ("data", "password"), _random_alnum(64)),
]


def _walk_strings(node: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(node, dict):
        return {k: _walk_strings(v, fn) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk_strings(v, fn) for v in node]
    if isinstance(node, str):
        return fn(node)
    return node


def normalise(doc: dict[str, Any]) -> dict[str, Any]:
    out = _walk_strings(doc, normalise_pem)
    for field in GENERATED_FIELDS:
        if not field.matches(out):
            continue
        parent = out
        for key in field.path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        leaf = field.path[-1]
        if not isinstance(parent, dict) or not isinstance(parent.get(leaf), str):
            continue
        encoded = field.path[0] == "data"  # Secret.data is base64; stringData is plain
        plain = base64.b64decode(parent[leaf]).decode() if encoded else parent[leaf]
        normalised = field.normalise(plain)
        if normalised != plain:
            parent[leaf] = f"base64({normalised})" if encoded else normalised
    return out


def keyed(docs: list[tuple[str, dict[str, Any]]]) -> dict[DocKey, list[dict[str, Any]]]:
    out: dict[DocKey, list[dict[str, Any]]] = {}
    for source, doc in docs:
        meta = doc.get("metadata") or {}
        key = (source, str(doc.get("apiVersion", "")), str(doc.get("kind", "")),
               str(meta.get("namespace", "")), str(meta.get("name", "")))
        out.setdefault(key, []).append(normalise(doc))
    for key in out:
        out[key].sort(key=lambda d: yaml.safe_dump(d, sort_keys=True))
    return out


def _dump(docs: dict[DocKey, list[dict[str, Any]]]) -> list[str]:
    lines = []
    for key in sorted(docs):
        for doc in docs[key]:
            lines.append(f"### {' | '.join(key)}\n")
            lines.extend(yaml.safe_dump(doc, sort_keys=True, width=1000).splitlines(keepends=True))
    return lines


def assert_same_documents(expected: dict[DocKey, list[dict[str, Any]]], actual: dict[DocKey, list[dict[str, Any]]],
                          expected_name: str, actual_name: str) -> None:
    if expected == actual:
        return
    only_expected = sorted(set(expected) - set(actual))
    only_actual = sorted(set(actual) - set(expected))
    diff = list(difflib.unified_diff(_dump(expected), _dump(actual), expected_name, actual_name, n=3))
    shown = "".join(diff[:600]) + (f"\n... {len(diff) - 600} more diff lines" if len(diff) > 600 else "")
    summary = [f"only in {expected_name}: {k}" for k in only_expected] + [f"only in {actual_name}: {k}" for k in only_actual]
    raise AssertionError("documents differ\n" + "\n".join(summary) + "\n" + shown)


# ---------------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_justpush_renders_like_real_helm(case: Case) -> None:
    expected = keyed(helm_documents(case))
    assert expected, "Helm rendered nothing"
    actual = keyed(justpush_documents(case))
    assert_same_documents(expected, actual, "helm", "justpush")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_normalised_real_helm_renders_are_reproducible(case: Case) -> None:
    """Two real-Helm renders differ only in generated values, so the normaliser must cover them all
    (if this fails, a random field is missing from GENERATED_FIELDS or a checksum hashes one)."""
    assert_same_documents(keyed(helm_documents(case)), keyed(helm_documents(case)), "helm#1", "helm#2")


def test_kong_reference_chart_is_present() -> None:
    assert (KONG_CHART_DIR / "Chart.yaml").is_file(), f"Kong chart missing at {KONG_CHART_DIR} (set JUSTPUSH_KONG_DIR)"
    assert len(_kong_ci_files()) >= 30


def test_normaliser_replaces_pem_plain_and_base64() -> None:
    cert = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIRAKx=\n-----END CERTIFICATE-----\n"
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1x+/=\n-----END RSA PRIVATE KEY-----\n"
    doc = {"data": {"tls.crt": base64.b64encode(cert.encode()).decode(), "tls.key": key, "bundle": cert + cert},
           "other": "plain text"}
    assert normalise(doc) == {
        "data": {"tls.crt": "base64(<PEM:CERTIFICATE>)", "tls.key": "<PEM:KEY>", "bundle": "<PEM:CERTIFICATE><PEM:CERTIFICATE>"},
        "other": "plain text",
    }


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_normaliser_replaces_generated_credentials_by_shape_only() -> None:
    labels = {"app.kubernetes.io/name": "justpush", "app.kubernetes.io/component": "database"}
    generated = "A" * 16 + "b" * 15 + "9"
    db = {"kind": "Secret", "metadata": {"name": "demo-justpush-database", "labels": labels},
          "data": {"password": _b64(generated), "username": _b64("app"),
                   "DATABASE_URL": _b64(f"postgresql://app:{generated}@db.apps.svc:5432/app")}}
    assert normalise(db)["data"] == {
        "password": "base64(<random len=32 charset=A-Za-z0-9>)",
        "username": _b64("app"),
        "DATABASE_URL": "base64(postgresql://app:<random len=32 charset=A-Za-z0-9>@db.apps.svc:5432/app)",
    }
    explicit = {**db, "data": {"password": _b64("s3cret-Passw0rd")}}
    assert normalise(explicit)["data"]["password"] == _b64("s3cret-Passw0rd")
    cred = {"kind": "Secret", "metadata": {"name": "c", "labels": {"konghq.com/credential": "key-auth"}},
            "data": {"key": _b64("x" * 64)}}
    assert normalise(cred)["data"]["key"] == "base64(<random len=64 charset=A-Za-z0-9>)"
    other = {"kind": "Secret", "metadata": {"name": "c"}, "data": {"key": _b64("x" * 64)}}
    assert normalise(other) == other


def test_template_stream_parser_follows_the_helm_template_format() -> None:
    text = (
        "---\n# Source: justpush/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"
        "---\n# Source: justpush/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n"
        "---\n# Source: justpush/templates/NOTES.txt\nhello: there\n"
    )
    docs = parse_template_stream(text)
    assert [(s, d["metadata"]["name"]) for s, d in docs] == [
        ("justpush/templates/service.yaml", "a"), ("justpush/templates/service.yaml", "b")]
    with pytest.raises(AssertionError):
        parse_template_stream("---\napiVersion: v1\nkind: Service\n")


def test_document_comparison_reports_a_readable_diff() -> None:
    a = keyed([("c/templates/x.yaml", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "1"}})])
    b = keyed([("c/templates/x.yaml", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "2"}})])
    with pytest.raises(AssertionError) as excinfo:
        assert_same_documents(a, b, "helm", "justpush")
    message = str(excinfo.value)
    assert "-  k: '1'" in message and "+  k: '2'" in message and "--- helm" in message
