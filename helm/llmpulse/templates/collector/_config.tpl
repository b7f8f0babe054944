{{/*
The collector's config, planned: collector-config/<configFiles...> merged in order with
collector.config, then fitted to the pod (hc `_config.tpl` style) and to what is configured:

* an exporter that reads an environment variable (`${env:NAME}`, no default) that the pod does
  not set (collector.env / collector.extraEnv / the chart's own) is left out, and a pipeline left
  without exporters sends to `debug` instead, so a fresh install starts and says what to set;
* components no pipeline uses any more are removed (the binary must know every configured type);
* OTLP receivers listen on the pod IP, and the health_check extension serves the probes.

Returns YAML {config, dropped: [exporter...], fallback: [pipeline...]}. (list $ files overrides env extraEnv)
*/}}
{{- define "llmpulse.collector.plan" -}}
{{- $root := index . 0 }}{{- $files := index . 1 }}{{- $overrides := index . 2 }}{{- $env := index . 3 }}{{- $extraEnv := index . 4 }}
{{- $config := dict }}
{{- range $files }}
{{- $config = mustMergeOverwrite $config (include "llmpulse.collectorConfigBase" (list $root . dict) | fromYaml) }}
{{- end }}
{{- $config = mustMergeOverwrite $config (deepCopy ($overrides | default dict)) }}
{{- $provided := list "MY_POD_IP" "K8S_POD_NAME" "K8S_NAMESPACE" "K8S_NODE_NAME" "GOMEMLIMIT" "QUEUE_DIR" "LLMPULSE_OTLP_HTTP_ENDPOINT" "LLMPULSE_TOKEN" }}
{{- range $name, $value := $env }}{{- if $value }}{{- $provided = append $provided $name }}{{- end }}{{- end }}
{{- range $extraEnv }}{{- $provided = append $provided .name }}{{- end }}
{{- $exporters := get $config "exporters" | default dict }}
{{- $dropped := list }}
{{- range $name, $exporter := $exporters }}
{{- range (regexFindAll "\\$\\{env:[A-Za-z_][A-Za-z0-9_]*\\}" (toYaml $exporter) -1) }}
{{- if not (has (. | trimPrefix "${env:" | trimSuffix "}") $provided) }}
{{- $dropped = append $dropped $name }}
{{- end }}
{{- end }}
{{- end }}
{{- $dropped = uniq $dropped }}
{{- $service := get $config "service" | default dict }}
{{- $pipelines := get $service "pipelines" | default dict }}
{{- $fallback := list }}
{{- $used := dict "receivers" list "processors" list "exporters" list }}
{{- range $pname, $pipeline := $pipelines }}
{{- $kept := list }}
{{- range ($pipeline.exporters | default list) }}{{- if not (has . $dropped) }}{{- $kept = append $kept . }}{{- end }}{{- end }}
{{- if not $kept }}
{{- $kept = list "debug" }}
{{- $fallback = append $fallback $pname }}
{{- end }}
{{- $_ := set $pipeline "exporters" $kept }}
{{- range $section := list "receivers" "processors" "exporters" }}
{{- $_ := set $used $section (concat (get $used $section) (get $pipeline $section | default list)) }}
{{- end }}
{{- end }}
{{- if has "debug" $used.exporters }}
{{- $_ := set $exporters "debug" (dict "verbosity" "basic") }}
{{- $_ := set $config "exporters" $exporters }}
{{- end }}
{{- range $section := list "receivers" "processors" "exporters" }}
{{- $components := get $config $section | default dict }}
{{- range $name, $_ := $components }}
{{- if not (has $name (get $used $section)) }}{{- $_ := unset $components $name }}{{- end }}
{{- end }}
{{- end }}
{{- range $name, $receiver := (get $config "receivers" | default dict) }}
{{- if and (or (eq $name "otlp") (hasPrefix "otlp/" $name)) (kindIs "map" $receiver) }}
{{- $protocols := get $receiver "protocols" | default dict }}
{{- range $protocol, $port := dict "grpc" "4317" "http" "4318" }}
{{- if hasKey $protocols $protocol }}
{{- $settings := get $protocols $protocol | default dict }}
{{- $_ := set $settings "endpoint" (printf "${env:MY_POD_IP}:%s" $port) }}
{{- $_ := set $protocols $protocol $settings }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- $extensions := get $config "extensions" | default dict }}
{{- $_ := set $extensions "health_check" (dict "endpoint" "${env:MY_POD_IP}:13133") }}
{{- $_ := set $config "extensions" $extensions }}
{{- $enabled := get $service "extensions" | default list }}
{{- if not (has "health_check" $enabled) }}
{{- $_ := set $service "extensions" (append $enabled "health_check") }}
{{- end }}
{{- $_ := set $config "service" $service }}
{{- toYaml (dict "config" $config "dropped" (sortAlpha $dropped) "fallback" (sortAlpha $fallback)) }}
{{- end }}

{{- define "llmpulse.collector.config" -}}
{{- $plan := include "llmpulse.collector.plan" (list . .Values.collector.configFiles .Values.collector.config .Values.collector.env .Values.collector.extraEnv) | fromYaml }}
{{- toYaml $plan.config }}
{{- end }}
