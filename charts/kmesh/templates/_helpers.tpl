{{/* Names and labels shared by every template. */}}
{{- define "kmesh.fullname" -}}
{{- if contains "kmesh" .Release.Name -}}{{ .Release.Name | trunc 50 | trimSuffix "-" }}{{- else -}}{{ printf "%s-kmesh" .Release.Name | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "kmesh.labels" -}}
app.kubernetes.io/name: kmesh
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kmesh
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kmesh.selector" -}}
app.kubernetes.io/name: kmesh
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kmesh.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/*
An RBAC object from files/rbac (copied from operator/rbac and csi/rbac by `npm run generate`, so
the chart grants exactly what the tests grant), renamed for this release.
Usage: include "kmesh.rbac" (list . "operator-cluster-role.yaml" "name")
*/}}
{{- define "kmesh.rbac" -}}
{{- $root := index . 0 -}}
{{- $object := $root.Files.Get (printf "files/rbac/%s" (index . 1)) | fromYaml -}}
{{- $_ := set $object "metadata" (dict "name" (index . 2) "labels" (fromYaml (include "kmesh.labels" $root))) -}}
{{- if eq $object.kind "Role" }}{{ $_ := set $object.metadata "namespace" $root.Release.Namespace }}{{ end -}}
{{ toYaml $object }}
{{- end -}}

{{/* The allowed host roots of local instances, as the operator's and the CSI node's --local-roots take them. */}}
{{- define "kmesh.localRoots" -}}
{{- range .Values.localRoots }}{{ if or (not (hasPrefix "/" .)) (eq . "/") (contains "," .) }}{{ fail (printf "localRoots: %q must be an absolute directory other than / (and hold no comma)" .) }}{{ end }}{{ end -}}
{{ join "," .Values.localRoots }}
{{- end -}}
