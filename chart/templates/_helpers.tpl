{{/*
Names, labels and per-component settings shared by every template.

Only a small function set is used on purpose (Go builtins plus the Helm/Sprig functions listed in
docs): the chart is also rendered by justpush's in-process engine, which implements exactly those.
*/}}

{{/* Chart name, overridable. */}}
{{- define "justpush.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every object name: "<release>-<chart>", or the release name if it contains the chart name. */}}
{{- define "justpush.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<chart>-<version>" for the helm.sh/chart label. */}}
{{- define "justpush.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
An object name of at most 63 characters (a DNS-1123 label) from NAME: NAME itself when it fits,
else its first 52 characters and the first 10 hex digits of its sha256. Cutting a long name at
63 would cut off what tells two names apart (the end, where a route's own hash is), so two
long names share a prefix but never a name. justpush mirrors this in src/chart/names.rs.
Context: NAME.
*/}}
{{- define "justpush.dnsName" -}}
{{- if le (len .) 63 -}}
{{- . -}}
{{- else -}}
{{- printf "%s-%s" (trunc 52 . | trimSuffix "-") (sha256sum . | trunc 10) -}}
{{- end -}}
{{- end -}}

{{/* Name of a component's objects. Context: dict "root" $ "name" COMPONENT. */}}
{{- define "justpush.componentName" -}}
{{- include "justpush.dnsName" (printf "%s-%s" (include "justpush.fullname" .root) .name) -}}
{{- end -}}

{{/*
The PersistentVolumeClaim of one writable path: the component's name and the path with `/._`
as `-` (`/app/instance` → `NAME-app-instance`). Context: dict "ctx" COMPONENT-CTX "path" PATH.
*/}}
{{- define "justpush.writableClaimName" -}}
{{- /* Writable paths are letters, digits and `/-._` (justpush.yaml checks them). */ -}}
{{- $slug := .path | lower | replace "/" "-" | replace "." "-" | replace "_" "-" | trimPrefix "-" | trimSuffix "-" -}}
{{- include "justpush.dnsName" (printf "%s-%s" (include "justpush.componentName" .ctx) $slug) -}}
{{- end -}}

{{/*
Labels every object carries. Context: dict "root" $ "component" NAME ["version" VERSION].
The version label defaults to the chart's appVersion; components pass their image tag.
*/}}
{{- define "justpush.labels" -}}
helm.sh/chart: {{ include "justpush.chart" .root }}
{{ include "justpush.selectorLabels" . }}
app.kubernetes.io/version: {{ default .root.Chart.AppVersion .version | toString | replace "+" "_" | replace ":" "_" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: {{ include "justpush.name" .root }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels selecting a component's pods. Context: dict "root" $ "component" NAME. */}}
{{- define "justpush.selectorLabels" -}}
app.kubernetes.io/name: {{ include "justpush.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels selecting every pod of the release. Context: $. */}}
{{- define "justpush.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "justpush.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Overlay of two maps as YAML: keys of "over" win, nested maps are overlaid key by key, lists and
scalars replace, a null in "over" keeps the base value. Written out instead of using
merge/mergeOverwrite because those skip false/0/"" values (mergo's "empty" rule), which would
make `exposed: false` impossible. Context: dict "base" MAP "over" MAP. Use with fromYaml.
*/}}
{{- define "justpush.overlay" -}}
{{- $out := dict -}}
{{- range $k, $v := .base -}}
{{- $o := index $.over $k -}}
{{- if not (hasKey $.over $k) -}}
{{- $_ := set $out $k $v -}}
{{- else if kindIs "invalid" $o -}}
{{- $_ := set $out $k $v -}}
{{- else if and (kindIs "map" $v) (kindIs "map" $o) -}}
{{- $_ := set $out $k (fromYaml (include "justpush.overlay" (dict "base" $v "over" $o))) -}}
{{- else -}}
{{- $_ := set $out $k $o -}}
{{- end -}}
{{- end -}}
{{- range $k, $o := .over -}}
{{- if not (hasKey $.base $k) -}}
{{- $_ := set $out $k $o -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
A component's effective settings as YAML: componentDefaults overlaid with the component's own
keys. Context: dict "root" $ "name" NAME. Use with fromYaml.
*/}}
{{- define "justpush.component" -}}
{{- $own := index .root.Values.components .name | default dict -}}
{{- include "justpush.overlay" (dict "base" .root.Values.componentDefaults "over" $own) -}}
{{- end -}}

{{/*
How a probe checks a component: GET healthPath, or a TCP connection when no HTTP path answers
(healthCheck: tcp, what the build's probe records for such an app). Context: the component.
*/}}
{{- define "justpush.probeAction" -}}
{{- if eq (toString .healthCheck) "tcp" -}}
tcpSocket:
  port: http
{{- else -}}
httpGet:
  path: {{ .healthPath }}
  port: http
{{- end -}}
{{- end -}}

{{/* Names of the enabled components, sorted, one per line. Context: $. */}}
{{- define "justpush.enabledComponents" -}}
{{- range $name := keys .Values.components | sortAlpha -}}
{{- $c := fromYaml (include "justpush.component" (dict "root" $ "name" $name)) -}}
{{- if $c.enabled }}
{{ $name }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Image reference. Context: dict "root" $ "image" IMAGE_VALUES. */}}
{{- define "justpush.image" -}}
{{- $repo := required "every image needs a repository (components.<name>.image.repository)" .image.repository -}}
{{- $tag := default .root.Chart.AppVersion (toString (default "" .image.tag)) -}}
{{- if .root.Values.imageRegistry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.imageRegistry) $repo $tag -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/* Name of a component's ServiceAccount. Context: dict "root" $ "name" NAME "c" COMPONENT. */}}
{{- define "justpush.serviceAccountName" -}}
{{- if .c.serviceAccount.create -}}
{{- default (include "justpush.componentName" .) .c.serviceAccount.name -}}
{{- else -}}
{{- default "default" .c.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret holding a component's secretEnv. Context: dict "root" $ "name" NAME. */}}
{{- define "justpush.secretName" -}}
{{- include "justpush.componentName" . -}}
{{- end -}}

{{/* Name of the Secret the External Secrets Operator writes. Context: dict "root" $ "name" NAME. */}}
{{- define "justpush.externalSecretName" -}}
{{- include "justpush.dnsName" (printf "%s-external" (include "justpush.componentName" .)) -}}
{{- end -}}

{{/* Whether a component gets an ExternalSecret ("true" or ""). Context: dict "root" $ "c" COMPONENT. */}}
{{- define "justpush.hasExternalSecret" -}}
{{- if and .root.Values.externalSecrets.enabled (or .c.externalSecret.data .c.externalSecret.extractKeys) -}}
true
{{- end -}}
{{- end -}}

{{/* Database object names. Context: $. */}}
{{- define "justpush.databaseName" -}}
{{- include "justpush.dnsName" (printf "%s-database" (include "justpush.fullname" .)) -}}
{{- end -}}

{{- define "justpush.backupName" -}}
{{- include "justpush.dnsName" (printf "%s-backup" (include "justpush.fullname" .)) -}}
{{- end -}}

{{/* Environment variable name for a component, e.g. "user-api" -> "USER_API". */}}
{{- define "justpush.envName" -}}
{{- . | upper | replace "-" "_" | replace "." "_" -}}
{{- end -}}

{{/*
Components the gateway routes to, as a YAML map NAME: true. With explicit kong.routes, the
components those routes target; otherwise every enabled component with exposed: true.
Context: $.
*/}}
{{- define "justpush.gatewayTargets" -}}
{{- $targets := dict -}}
{{- if and .Values.kong.enabled .Values.kong.routes -}}
{{- range .Values.kong.routes -}}
{{- if .component -}}
{{- $_ := set $targets .component true -}}
{{- end -}}
{{- end -}}
{{- if .Values.kong.keepComponentRoutes -}}
{{- $targets = merge $targets (fromYaml (include "justpush.exposedComponents" .)) -}}
{{- end -}}
{{- else -}}
{{- $targets = fromYaml (include "justpush.exposedComponents" .) -}}
{{- end -}}
{{- toYaml $targets -}}
{{- end -}}

{{/* Enabled components with exposed: true, as a YAML map NAME: true. Context: $. */}}
{{- define "justpush.exposedComponents" -}}
{{- $targets := dict -}}
{{- range $name := splitList "\n" (include "justpush.enabledComponents" $) -}}
{{- if $name -}}
{{- $c := fromYaml (include "justpush.component" (dict "root" $ "name" $name)) -}}
{{- if $c.exposed -}}
{{- $_ := set $targets $name true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $targets -}}
{{- end -}}

{{/* Kong plugin object names. Context: $. */}}
{{- define "justpush.kongPluginRateLimiting" -}}
{{- include "justpush.dnsName" (printf "%s-rate-limiting" (include "justpush.fullname" .)) -}}
{{- end -}}
{{- define "justpush.kongPluginCors" -}}
{{- include "justpush.dnsName" (printf "%s-cors" (include "justpush.fullname" .)) -}}
{{- end -}}
{{- define "justpush.kongPluginAuth" -}}
{{- include "justpush.dnsName" (printf "%s-%s" (include "justpush.fullname" .) .Values.kong.auth.type) -}}
{{- end -}}
{{- define "justpush.kongConsumerName" -}}
{{- include "justpush.dnsName" (printf "%s-consumer" (include "justpush.fullname" .)) -}}
{{- end -}}
{{- define "justpush.kongCredentialName" -}}
{{- include "justpush.dnsName" (printf "%s-consumer-%s" (include "justpush.fullname" .) .Values.kong.auth.type) -}}
{{- end -}}
{{/* Name of the KongPlugin rendered from kong.plugins.<key>: "<fullname>-<key>", the fullname
shortened so the whole stays within 63 characters. Context: dict "root" $ "key" KEY. */}}
{{- define "justpush.kongPluginObjectName" -}}
{{- $room := int (max 1 (sub 62 (len .key))) -}}
{{- printf "%s-%s" (include "justpush.fullname" .root | trunc $room | trimSuffix "-") .key | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "justpush.kongAnonymousUsername" -}}
{{- default (printf "%s-anonymous" .Release.Name) .Values.kong.anonymousConsumer.username -}}
{{- end -}}
{{- define "justpush.kongConsumerUsername" -}}
{{- default (printf "%s-developer" .Release.Name) .Values.kong.consumer.username -}}
{{- end -}}

{{/*
Comma-separated KongPlugin names for a list of plugin references. Short names map to this
chart's plugins (rate-limiting, cors, auth), keys of kong.plugins to the KongPlugins rendered from
it; anything else is an existing KongPlugin's name.
Context: dict "root" $ "plugins" LIST.
*/}}
{{- define "justpush.kongPluginList" -}}
{{- $root := .root -}}
{{- $names := list -}}
{{- range .plugins -}}
{{- if eq . "rate-limiting" -}}
{{- if not $root.Values.kong.rateLimiting.enabled -}}
{{- fail "kong.routes: plugin rate-limiting is referenced but kong.rateLimiting.enabled is false" -}}
{{- end -}}
{{- $names = append $names (include "justpush.kongPluginRateLimiting" $root) -}}
{{- else if eq . "cors" -}}
{{- if not $root.Values.kong.cors.enabled -}}
{{- fail "kong.routes: plugin cors is referenced but kong.cors.enabled is false" -}}
{{- end -}}
{{- $names = append $names (include "justpush.kongPluginCors" $root) -}}
{{- else if eq . "auth" -}}
{{- if eq $root.Values.kong.auth.type "none" -}}
{{- fail "kong.routes: plugin auth is referenced but kong.auth.type is none" -}}
{{- end -}}
{{- $names = append $names (include "justpush.kongPluginAuth" $root) -}}
{{- else if hasKey $root.Values.kong.plugins . -}}
{{- $names = append $names (include "justpush.kongPluginObjectName" (dict "root" $root "key" .)) -}}
{{- else -}}
{{- $names = append $names . -}}
{{- end -}}
{{- end -}}
{{- join "," (uniq $names) -}}
{{- end -}}

{{/* Default plugin references of a component's routes. Context: dict "root" $ "c" COMPONENT. Output: YAML map {plugins: [...]}. */}}
{{- define "justpush.componentPlugins" -}}
{{- $plugins := list -}}
{{- if .root.Values.kong.cors.enabled -}}
{{- $plugins = append $plugins "cors" -}}
{{- end -}}
{{- if and .c.authRequired (ne .root.Values.kong.auth.type "none") -}}
{{- $plugins = append $plugins "auth" -}}
{{- end -}}
{{- if .root.Values.kong.rateLimiting.enabled -}}
{{- $plugins = append $plugins "rate-limiting" -}}
{{- end -}}
{{- toYaml (dict "plugins" $plugins) -}}
{{- end -}}

{{/*
Checkov skips of a workload, each naming why the check is deliberately not met. The pull-policy
skip is only emitted when the policy is not Always, the NetworkPolicy one only when the chart renders
none. Context: dict "root" $ "pullPolicy" P "envReason" TEXT.
*/}}
{{- define "justpush.checkovWorkloadSkips" -}}
checkov.io/skip1: "CKV_K8S_43=Images are built by justpush and loaded into kind/minikube or a local registry by tag, no digest exists before the build"
checkov.io/skip2: {{ printf "CKV_K8S_35=%s" .envReason | quote }}
{{- if ne .pullPolicy "Always" }}
checkov.io/skip3: "CKV_K8S_15=pullPolicy is configurable, IfNotPresent is needed for images loaded into kind/minikube without a registry"
{{- end }}
{{- if not .root.Values.networkPolicy.enabled }}
checkov.io/skip5: "CKV2_K8S_6=networkPolicy.enabled is false, the user manages NetworkPolicies outside this chart"
{{- end }}
{{- end -}}

{{/* Restricted container securityContext. Context: $. */}}
{{- define "justpush.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: {{ int .Values.podSecurity.runAsUser }}
runAsGroup: {{ int .Values.podSecurity.runAsGroup }}
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Restricted pod securityContext. Context: $. */}}
{{- define "justpush.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ int .Values.podSecurity.runAsUser }}
runAsGroup: {{ int .Values.podSecurity.runAsGroup }}
fsGroup: {{ int .Values.podSecurity.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* imagePullSecrets block content, or nothing. Context: $. */}}
{{- define "justpush.imagePullSecrets" -}}
{{- range .Values.imagePullSecrets }}
- name: {{ . }}
{{- end }}
{{- end -}}

{{/* Resources block with integer-safe formatting. Context: RESOURCES map. */}}
{{- define "justpush.resources" -}}
{{- toYaml . -}}
{{- end -}}
