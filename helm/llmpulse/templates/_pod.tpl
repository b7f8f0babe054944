{{/* The llmpulse pod template, shared by the Deployment and the StatefulSet. */}}
{{- define "llmpulse.podTemplate" -}}
metadata:
  labels:
    {{- include "llmpulse.selectorLabels" (list . "gateway") | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # Roll the pods when their config or tokens change.
    checksum/config: {{ include "llmpulse.config" . | sha256sum }}
    {{- if and .Values.auth.enabled (not .Values.auth.existingSecret) }}
    checksum/auth: {{ toJson .Values.auth.tokens | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "llmpulse.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.kubernetesMetadata.enabled }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- include "llmpulse.podSecurityContext" . | nindent 4 }}
  containers:
    - name: llmpulse
      image: {{ include "llmpulse.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - serve
        - --config
        - /etc/llmpulse/config.yaml
      env:
        # Each pod writes its own llmpulse_instance series; the pod name keeps them across
        # container restarts (and across rescheduling in StatefulSet mode).
        - name: LLMPULSE_INSTANCE
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: PYTHONUNBUFFERED
          value: "1"
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: otlp-grpc
          containerPort: 4317
          protocol: TCP
        - name: otlp-http
          containerPort: 4318
          protocol: TCP
        - name: metrics
          containerPort: 9464
          protocol: TCP
      startupProbe:
        httpGet:
          path: /healthz
          port: metrics
        periodSeconds: 2
        timeoutSeconds: {{ .Values.probes.timeoutSeconds }}
        failureThreshold: {{ .Values.probes.startupFailureThreshold }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: metrics
        periodSeconds: {{ .Values.probes.periodSeconds }}
        timeoutSeconds: {{ .Values.probes.timeoutSeconds }}
        failureThreshold: {{ .Values.probes.livenessFailureThreshold }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: metrics
        periodSeconds: {{ .Values.probes.periodSeconds }}
        timeoutSeconds: {{ .Values.probes.timeoutSeconds }}
        failureThreshold: {{ .Values.probes.readinessFailureThreshold }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- include "llmpulse.securityContext" . | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/llmpulse/config.yaml
          subPath: config.yaml
          readOnly: true
        - name: data
          mountPath: {{ include "llmpulse.dataDir" . }}
        - name: tmp
          mountPath: /tmp
        {{- if .Values.auth.enabled }}
        - name: auth
          mountPath: {{ include "llmpulse.authDir" . }}
          readOnly: true
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "llmpulse.fullname" . }}
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if ne .Values.mode "statefulset" }}
    - name: data
      emptyDir:
        sizeLimit: {{ .Values.persistence.emptyDirSizeLimit }}
    {{- end }}
    {{- if .Values.auth.enabled }}
    - name: auth
      secret:
        secretName: {{ include "llmpulse.authSecretName" . }}
        defaultMode: 0440
        items:
          - key: {{ .Values.auth.tokensKey }}
            path: {{ .Values.auth.tokensKey }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- range .Values.topologySpreadConstraints }}
    - {{- toYaml (omit . "labelSelector") | nindent 6 }}
      labelSelector:
        {{- if .labelSelector }}
        {{- toYaml .labelSelector | nindent 8 }}
        {{- else }}
        matchLabels:
          {{- include "llmpulse.selectorLabels" (list $ "gateway") | nindent 10 }}
        {{- end }}
    {{- end }}
  {{- end }}
{{- end }}
