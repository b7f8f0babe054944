{{/*
Names, labels and images. Every named template carries the chart prefix; names are cut to 63
characters (the DNS label limit of object names).
*/}}

{{- define "llmpulse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llmpulse.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<fullname>-<suffix>", cut so that the suffix survives. */}}
{{- define "llmpulse.componentName" -}}
{{- $root := index . 0 }}{{- $suffix := index . 1 -}}
{{- printf "%s-%s" (include "llmpulse.fullname" $root | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix }}
{{- end }}

{{- define "llmpulse.collectorName" -}}
{{- include "llmpulse.componentName" (list . "collector") }}
{{- end }}

{{- define "llmpulse.agentName" -}}
{{- include "llmpulse.componentName" (list . "agent") }}
{{- end }}

{{- define "llmpulse.headlessName" -}}
{{- include "llmpulse.componentName" (list . "headless") }}
{{- end }}

{{- define "llmpulse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object; pass (list $ "component"). */}}
{{- define "llmpulse.labels" -}}
{{- $root := index . 0 }}{{- $component := index . 1 -}}
helm.sh/chart: {{ include "llmpulse.chart" $root }}
{{ include "llmpulse.selectorLabels" (list $root $component) }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: llmpulse
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels: stable across upgrades (never add to these). */}}
{{- define "llmpulse.selectorLabels" -}}
{{- $root := index . 0 }}{{- $component := index . 1 -}}
app.kubernetes.io/name: {{ include "llmpulse.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ $component }}
{{- end }}

{{- define "llmpulse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "llmpulse.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference from {repository, tag, digest}; the digest wins. (list image defaultTag) */}}
{{- define "llmpulse.imageRef" -}}
{{- $image := index . 0 }}{{- $default := index . 1 -}}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default $default $image.tag) }}
{{- end }}
{{- end }}

{{- define "llmpulse.image" -}}
{{- include "llmpulse.imageRef" (list .Values.image .Chart.AppVersion) }}
{{- end }}

{{- define "llmpulse.authSecretName" -}}
{{- default (include "llmpulse.componentName" (list . "auth")) .Values.auth.existingSecret }}
{{- end }}

{{/* Paths inside the llmpulse pod. */}}
{{- define "llmpulse.dataDir" -}}/var/lib/llmpulse{{- end }}
{{- define "llmpulse.authDir" -}}/etc/llmpulse/auth{{- end }}

{{/* The collector's in-cluster OTLP/gRPC endpoint (llmpulse forwards here). */}}
{{- define "llmpulse.collectorEndpoint" -}}
{{- printf "%s.%s.svc:4317" (include "llmpulse.collectorName" .) .Release.Namespace }}
{{- end }}

{{/* llmpulse's in-cluster OTLP/HTTP endpoint (the node agent sends here). */}}
{{- define "llmpulse.otlpHttpEndpoint" -}}
{{- printf "http://%s.%s.svc:4318" (include "llmpulse.fullname" .) .Release.Namespace }}
{{- end }}

{{/*
The llmpulse config: `.Values.config` with what the pod needs set on top of it. Keys the chart
owns are set explicitly (not merged) so that a `false` or empty value in .Values is honoured.
*/}}
{{- define "llmpulse.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- $receivers := get $cfg "receivers" | default dict }}
{{- $grpc := get $receivers "grpc" | default dict }}
{{- $_ := set $grpc "endpoint" "0.0.0.0:4317" }}
{{- $_ := set $receivers "grpc" $grpc }}
{{- $http := get $receivers "http" | default dict }}
{{- $_ := set $http "endpoint" "0.0.0.0:4318" }}
{{- $_ := set $receivers "http" $http }}
{{- if .Values.auth.enabled }}
{{- $auth := get $receivers "auth" | default dict }}
{{- $_ := set $auth "bearer_tokens_file" (printf "%s/%s" (include "llmpulse.authDir" .) .Values.auth.tokensKey) }}
{{- $_ := set $receivers "auth" $auth }}
{{- end }}
{{- $_ := set $cfg "receivers" $receivers }}
{{- $metrics := get $cfg "metrics" | default dict }}
{{- $_ := set $metrics "endpoint" "0.0.0.0:9464" }}
{{- $_ := set $cfg "metrics" $metrics }}
{{- $_ := set $cfg "data_dir" (include "llmpulse.dataDir" .) }}
{{- if .Values.collector.enabled }}
{{- $forward := get $cfg "forward" | default dict }}
{{- $targets := get $forward "targets" | default list }}
{{- $_ := set $forward "targets" (prepend $targets (dict "endpoint" (include "llmpulse.collectorEndpoint" .) "name" "collector" "insecure" true)) }}
{{- $_ := set $cfg "forward" $forward }}
{{- end }}
{{- $k8s := get $cfg "kubernetes" | default dict }}
{{- $_ := set $k8s "enabled" .Values.kubernetesMetadata.enabled }}
{{- if .Values.kubernetesMetadata.enabled }}
{{- $_ := set $k8s "namespaces" .Values.kubernetesMetadata.namespaces }}
{{- $_ := set $k8s "pod_labels" .Values.kubernetesMetadata.podLabels }}
{{- end }}
{{- $_ := set $cfg "kubernetes" $k8s }}
{{- toYaml $cfg }}
{{- end }}

{{/*
A collector config: the synced file merged with overrides. (list $ fileName overrides)
Fails when the file was not synced into the chart (run helm/sync.py).
*/}}
{{- define "llmpulse.collectorConfigBase" -}}
{{- $root := index . 0 }}{{- $file := index . 1 }}{{- $overrides := index . 2 }}
{{- $raw := $root.Files.Get (printf "files/collector/%s" $file) }}
{{- if not $raw }}
{{- fail (printf "files/collector/%s is not in the chart: set a config file that exists in collector-config/ and run `python helm/sync.py`" $file) }}
{{- end }}
{{- $base := fromYaml $raw }}
{{- if hasKey $base "Error" }}
{{- fail (printf "files/collector/%s is not valid YAML: %s" $file $base.Error) }}
{{- end }}
{{- toYaml (mustMergeOverwrite $base (deepCopy ($overrides | default dict))) }}
{{- end }}

{{/* Whether a collector config uses a component kind (prefix match on "kind" or "kind/name"). */}}
{{- define "llmpulse.usesComponent" -}}
{{- $config := index . 0 }}{{- $section := index . 1 }}{{- $kind := index . 2 }}
{{- range $name, $_ := (get $config $section | default dict) }}
{{- if or (eq $name $kind) (hasPrefix (printf "%s/" $kind) $name) }}true{{- end }}
{{- end }}
{{- end }}

{{/* Hardened container defaults shared by llmpulse, the collector and the test pod. */}}
{{- define "llmpulse.securityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end }}

{{- define "llmpulse.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{/* GOMEMLIMIT: 80% of a memory limit like 512Mi / 1Gi, in MiB. */}}
{{- define "llmpulse.gomemlimit" -}}
{{- $limit := . | toString }}
{{- $mib := 0 }}
{{- if hasSuffix "Gi" $limit }}{{- $mib = mul (trimSuffix "Gi" $limit | int) 1024 }}
{{- else if hasSuffix "Mi" $limit }}{{- $mib = trimSuffix "Mi" $limit | int }}
{{- end }}
{{- if gt (int $mib) 0 }}{{ div (mul $mib 80) 100 }}MiB{{- end }}
{{- end }}

{{/* Cluster-scoped objects: the namespace keeps two releases of the same name apart. */}}
{{- define "llmpulse.clusterRoleName" -}}
{{- printf "%s-%s" .Release.Namespace (include "llmpulse.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
RBAC of a collector whose config uses the k8sattributes processor: what that processor reads
(pods, namespaces, ReplicaSets for Deployment names). (list $ serviceAccountName component)
*/}}
{{- define "llmpulse.k8sattributesRBAC" -}}
{{- $root := index . 0 }}{{- $sa := index . 1 }}{{- $component := index . 2 -}}
{{- $name := printf "%s-%s" $root.Release.Namespace $sa | trunc 63 | trimSuffix "-" }}
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ $name }}
  labels:
    {{- include "llmpulse.labels" (list $root $component) | nindent 4 }}
rules:
  - apiGroups: [""]
    resources: ["pods", "namespaces"]
    verbs: ["get", "list", "watch"]
  - apiGroups: ["apps"]
    resources: ["replicasets"]
    verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ $name }}
  labels:
    {{- include "llmpulse.labels" (list $root $component) | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ $sa }}
    namespace: {{ $root.Release.Namespace }}
{{- end }}
