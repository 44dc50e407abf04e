{{- define "pullcache.name" -}}
{{- .Chart.Name -}}
{{- end -}}

{{- define "pullcache.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "pullcache.labels" -}}
app.kubernetes.io/name: {{ include "pullcache.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "pullcache.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pullcache.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pullcache.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "pullcache.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The containerd-config command line (install or, with "--remove", uninstall). */}}
{{- define "pullcache.containerdConfigArgs" -}}
- containerd-config
- --config
- /etc/pullcache/config.yaml
- --host-root
- /host
- --certs-dir
- {{ .Values.containerd.certsDir | quote }}
- --containerd-config
- {{ .Values.containerd.configToml | quote }}
- --mirror-url
- {{ printf "http://127.0.0.1:%d" (int .Values.registryPort) | quote }}
- --dial-timeout
- {{ .Values.containerd.dialTimeout | quote }}
{{- if .Values.containerd.all }}
- --all
{{- end }}
{{- end -}}

{{/*
Runs as uid 0 with every capability dropped: it writes root-owned host paths (the cache
directory, containerd's certs.d) as their owner, which needs no capability, and binds ports
above 1024. Nothing else: read-only root file system, no privilege escalation.
*/}}
{{- define "pullcache.securityContext" -}}
runAsUser: 0
runAsGroup: 0
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Cluster mode: the headless Service whose DNS name lists the ready pods' node IPs. */}}
{{- define "pullcache.peersServiceName" -}}
{{- printf "%s-peers" (include "pullcache.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The Secret holding the peers' shared secret (key peer-secret): the user's, or ours. */}}
{{- define "pullcache.peerSecretName" -}}
{{- if .Values.peers.existingSecret -}}
{{- .Values.peers.existingSecret -}}
{{- else -}}
{{- printf "%s-peer-secret" (include "pullcache.fullname" .) | trunc 253 -}}
{{- end -}}
{{- end -}}
