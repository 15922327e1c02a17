{{/*
A component's ConfigMap and Secret as named templates, so the Deployment can hash exactly what
is rendered (checksum/config, checksum/secret) and roll its pods when either changes.
Context of both: dict "root" $ "name" NAME "c" COMPONENT.
*/}}

{{/* Plain environment of a component: PORT, <TARGET>_URL per talksTo target, then env. */}}
{{- define "justpush.componentEnv" -}}
{{- $env := dict "PORT" (toString (int .c.port)) -}}
{{- range $target := .c.talksTo -}}
{{- if hasKey $.root.Values.components $target -}}
{{- $t := fromYaml (include "justpush.component" (dict "root" $.root "name" $target)) -}}
{{- if $t.enabled -}}
{{- $url := printf "http://%s:%d" (include "justpush.componentName" (dict "root" $.root "name" $target)) (int $t.port) -}}
{{- $_ := set $env (printf "%s_URL" (include "justpush.envName" $target)) $url -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $k, $v := .c.env -}}
{{- $_ := set $env $k $v -}}
{{- end -}}
{{- toYaml $env -}}
{{- end -}}

{{- define "justpush.configmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "justpush.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "justpush.labels" (dict "root" .root "component" .name "version" .c.image.tag) | nindent 4 }}
data:
  {{- range $k, $v := fromYaml (include "justpush.componentEnv" .) }}
  {{ $k }}: {{ toString $v | quote }}
  {{- end }}
{{- end -}}

{{- define "justpush.secret" -}}
apiVersion: v1
kind: Secret
metadata:
  name: {{ include "justpush.secretName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "justpush.labels" (dict "root" .root "component" .name "version" .c.image.tag) | nindent 4 }}
type: Opaque
{{- if .c.secretEnv }}
data:
  {{- range $k, $v := .c.secretEnv }}
  {{ $k }}: {{ toString $v | b64enc | quote }}
  {{- end }}
{{- else }}
data: {}
{{- end }}
{{- end -}}
