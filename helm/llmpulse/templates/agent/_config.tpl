{{/*
The node agent's config: collector-config/<agent.configFiles...> merged with agent.config (planned like the collector's); with auth
on, its OTLP exporters to llmpulse send the client token.
*/}}
{{- define "llmpulse.agent.config" -}}
{{- $plan := include "llmpulse.collector.plan" (list . .Values.agent.configFiles .Values.agent.config dict .Values.agent.extraEnv) | fromYaml }}
{{- $config := $plan.config }}
{{- if .Values.auth.enabled }}
{{- range $name, $exporter := (get $config "exporters" | default dict) }}
{{- if and (or (hasPrefix "otlphttp" $name) (hasPrefix "otlp" $name)) (kindIs "map" $exporter) }}
{{- $headers := get $exporter "headers" | default dict }}
{{- $_ := set $headers "authorization" "Bearer ${env:LLMPULSE_TOKEN}" }}
{{- $_ := set $exporter "headers" $headers }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $config }}
{{- end }}
