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