{{/* Names, labels, images and the wiring every template shares. */}}

{{- define "sys2ft.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sys2ft.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "sys2ft.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "sys2ft.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* selector labels of one component: (dict "root" $ "component" "generation") */}}
{{- define "sys2ft.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sys2ft.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "sys2ft.tag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "sys2ft.serviceImage" -}}
{{- printf "%s%s-%s:%s" .root.Values.image.registry .root.Values.image.services.repositoryPrefix .service (include "sys2ft.tag" .root) -}}
{{- end -}}

{{- define "sys2ft.workerImage" -}}
{{- printf "%s%s:%s" .Values.image.registry .Values.image.worker.repository (include "sys2ft.tag" .) -}}
{{- end -}}

{{- define "sys2ft.keysSecret" -}}
{{- default (printf "%s-keys" (include "sys2ft.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{/* The Secret and key DATABASE_URL is read from: CNPG's app Secret, the chart's, or the user's. */}}
{{- define "sys2ft.databaseSecret" -}}
{{- if .Values.postgres.cnpg.enabled -}}
{{- printf "%s-pg-app" (include "sys2ft.fullname" .) -}}
{{- else if .Values.postgres.url -}}
{{- printf "%s-postgres" (include "sys2ft.fullname" .) -}}
{{- else -}}
{{- default (printf "%s-postgres" (include "sys2ft.fullname" .)) .Values.postgres.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "sys2ft.databaseSecretKey" -}}
{{- if or .Values.postgres.cnpg.enabled .Values.postgres.url -}}uri{{- else -}}{{ .Values.postgres.existingSecretKey }}{{- end -}}
{{- end -}}

{{- define "sys2ft.serviceUrl" -}}
{{- printf "http://%s-%s:%d" (include "sys2ft.fullname" .root) .service (int (index .root.Values.services .service).port) -}}
{{- end -}}

{{- define "sys2ft.rayClusterName" -}}
{{- printf "%s-ray" (include "sys2ft.fullname" .) -}}
{{- end -}}

{{/* The head's GCS port: rayStartParams.port, else Ray's default. */}}
{{- define "sys2ft.rayGcsPort" -}}
{{- index .Values.workers.ray.head.rayStartParams "port" | default "6379" -}}
{{- end -}}

{{/*
SYS2FT_RAY_ADDRESS of the services: the head's GCS address (KubeRay's <cluster>-head-svc). The
services do not connect to Ray (they find the actors through SYS2FT_RAY_POOL_URL and show this in
/cluster/status); the launcher, on the head node, connects with --address auto.
*/}}
{{- define "sys2ft.rayAddress" -}}
{{- .Values.workers.ray.address | default (printf "%s-head-svc.%s.svc:%s" (include "sys2ft.rayClusterName" .) .Release.Namespace (include "sys2ft.rayGcsPort" .)) -}}
{{- end -}}

{{- define "sys2ft.rayPoolUrl" -}}
{{- printf "http://%s-ray-pool:%d" (include "sys2ft.fullname" .) (int .Values.workers.ray.launcher.port) -}}
{{- end -}}

{{/* SYS2FT_WORKER_URL: the Service over every HTTP worker pod, or the external URL. */}}
{{- define "sys2ft.workerUrl" -}}
{{- if eq .Values.workers.backend "http" -}}
{{- printf "http://%s-worker:%d" (include "sys2ft.fullname" .) (int .Values.workers.http.port) -}}
{{- else if eq .Values.workers.backend "external" -}}
{{- required "workers.external.url is required when workers.backend=external" .Values.workers.external.url -}}
{{- end -}}
{{- end -}}

{{/*
SYS2FT_WORKERS for the training service: every HTTP worker pod at its own stable address (the
dispatcher polls the worker that runs a job, which a load-balanced Service would not guarantee). Pod
0 is named `default`, so SYS2FT_WORKER_URL (the load-balanced Service) is not also registered as a
training worker. $(SYS2FT_WORKER_API_KEY) is expanded by Kubernetes from the variable before it.
*/}}
{{- define "sys2ft.trainingWorkers" -}}
{{- $list := list -}}
{{- if eq .Values.workers.backend "http" -}}
{{- $full := include "sys2ft.fullname" . -}}
{{- range $i, $_ := until (int .Values.workers.http.replicas) -}}
{{- $name := ternary "default" (printf "worker-%d" $i) (eq $i 0) -}}
{{- $url := printf "http://%s-worker-%d.%s-worker-pods.%s.svc:%d" $full $i $full $.Release.Namespace (int $.Values.workers.http.port) -}}
{{- $list = append $list (dict "name" $name "url" $url "api_key" "$(SYS2FT_WORKER_API_KEY)" "capacity" (int $.Values.workers.http.capacity) "labels" (dict "pod" (printf "%s-worker-%d" $full $i))) -}}
{{- end -}}
{{- else if eq .Values.workers.backend "external" -}}
{{- range .Values.workers.external.workers -}}
{{- $list = append $list (merge (dict "api_key" "$(SYS2FT_WORKER_API_KEY)") .) -}}
{{- end -}}
{{- end -}}
{{- if $list -}}{{ toJson $list }}{{- end -}}
{{- end -}}

{{/* The worker's environment, the same in a StatefulSet pod and a Ray pod. */}}
{{- define "sys2ft.workerEnv" -}}
- name: SYS2FT_WORKER_MODEL
  value: {{ .Values.workers.model | quote }}
- name: SYS2FT_WORKER_ENGINE
  value: {{ .Values.workers.engine | quote }}
- name: SYS2FT_WORKER_HOST
  value: "0.0.0.0"
- name: SYS2FT_WORKER_PORT
  value: {{ .Values.workers.http.port | quote }}
- name: SYS2FT_WORKER_GPU_MEMORY_UTILIZATION
  value: {{ .Values.workers.gpuMemoryUtilization | quote }}
- name: SYS2FT_WORKER_MAX_BATCH
  value: {{ .Values.workers.maxBatch | quote }}
- name: SYS2FT_WORKER_ADAPTER_DIR
  value: /data/adapters
- name: SYS2FT_WORKER_CACHE_DIR
  value: /cache/models
- name: HF_HOME
  value: /cache/hf
- name: SYS2FT_WORKER_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "sys2ft.keysSecret" . }}
      key: worker-api-key
{{- range $k, $v := .Values.workers.extraEnv }}
- name: {{ $k }}
  value: {{ $v | toString | quote }}
{{- end }}
{{- end -}}

{{- define "sys2ft.workerVolumeMounts" -}}
- name: adapters
  mountPath: /data/adapters
- name: model-cache
  mountPath: /cache
- name: dshm
  mountPath: /dev/shm
{{- end -}}

{{- define "sys2ft.workerVolumes" -}}
- name: adapters
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-adapters" (include "sys2ft.fullname" .)) .Values.adapters.existingClaim }}
- name: model-cache
{{- if .Values.modelCache.shared }}
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-model-cache" (include "sys2ft.fullname" .)) .Values.modelCache.existingClaim }}
{{- else }}
  emptyDir: {}
{{- end }}
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ .Values.workers.shmSize }}
{{- end -}}

{{- define "sys2ft.workerScheduling" -}}
{{- with .Values.workers.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.workers.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.workers.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
