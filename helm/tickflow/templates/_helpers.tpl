{{/* Names */}}
{{- define "tickflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tickflow.fullname" -}}
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

{{- define "tickflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels */}}
{{- define "tickflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tickflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tickflow.labels" -}}
helm.sh/chart: {{ include "tickflow.chart" . }}
{{ include "tickflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tickflow
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "tickflow.timescaledb.fullname" -}}
{{- printf "%s-timescaledb" (include "tickflow.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tickflow.timescaledb.selectorLabels" -}}
{{ include "tickflow.selectorLabels" . }}
app.kubernetes.io/component: timescaledb
{{- end -}}

{{- define "tickflow.timescaledb.image" -}}
{{- $img := .Values.timescaledb.image -}}
{{- if $img.digest -}}
{{- printf "%s:%s@%s" $img.repository $img.tag $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository $img.tag -}}
{{- end -}}
{{- end -}}

{{- define "tickflow.kafka.namespace" -}}
{{- .Release.Namespace -}}
{{- end -}}

{{/* The names of referenced Secrets; rendering fails without them. */}}
{{- define "tickflow.secretName" -}}
{{- required "secrets.existingSecret: name the Secret holding TICKFLOW_PG_DSN (kubectl create secret, docs/deploy.md)" .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "tickflow.timescaledb.secretName" -}}
{{- required "timescaledb.existingSecret: name the Secret with postgres-password, tickflow-password and dagster-password" .Values.timescaledb.existingSecret -}}
{{- end -}}
