{{/* Labels every object carries (same as `netctl monitor install`). */}}
{{- define "ndm.labels" -}}
app.kubernetes.io/managed-by: netctl
app.kubernetes.io/part-of: netdoctor-monitor
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "ndm.image" -}}
{{ .Values.image.repository }}/netctl:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "ndm.secretName" -}}
{{ .Values.existingSecret | default "netdoctor-monitor-token" }}
{{- end }}

{{- define "ndm.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65534
capabilities:
  drop: [ALL]
{{- end }}

{{- define "ndm.tokenVolume" -}}
- name: token
  secret:
    secretName: {{ include "ndm.secretName" . }}
    defaultMode: 0444
    items:
      - key: token
        path: token
{{- end }}
