{{/* Names, labels and the shared pieces of every platform pod (env, volumes, security). */}}

{{- define "storeplane.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "storeplane.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "web"). Never change on upgrade. */}}
{{- define "storeplane.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "storeplane.componentLabels" -}}
{{ include "storeplane.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "storeplane.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "storeplane.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "storeplane.image" -}}
{{- if .digest -}}
{{- printf "%s@%s" .repository .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository (toString .tag) -}}
{{- end -}}
{{- end -}}

{{- define "storeplane.secretName" -}}
{{- default (printf "%s-secrets" (include "storeplane.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* The Secret holding the backup bucket's keys: its own, or the platform's. */}}
{{- define "storeplane.backupSecretName" -}}
{{- default (include "storeplane.secretName" .) .Values.backups.s3.existingSecret -}}
{{- end -}}

{{- define "storeplane.bundledSecretName" -}}
{{- printf "%s-bundled" (include "storeplane.fullname" .) -}}
{{- end -}}

{{- define "storeplane.postgresqlName" -}}
{{- printf "%s-postgresql" (include "storeplane.fullname" .) -}}
{{- end -}}

{{- define "storeplane.redisName" -}}
{{- printf "%s-redis" (include "storeplane.fullname" .) -}}
{{- end -}}

{{/* The service environment variable prefix Kubernetes gives a Service name (FOO_BAR for foo-bar). */}}
{{- define "storeplane.serviceEnv" -}}
{{- . | upper | replace "-" "_" -}}
{{- end -}}

{{/* Fails the render unless a database and a Redis are configured one way or the other. */}}
{{- define "storeplane.validate" -}}
{{- if not .Values.bundled.enabled -}}
{{- if not .Values.externalDatabase.existingSecret -}}
{{- fail "externalDatabase.existingSecret is required (a Secret with the DATABASE_URL), or set bundled.enabled=true for a demo" -}}
{{- end -}}
{{- if not .Values.externalRedis.existingSecret -}}
{{- fail "externalRedis.existingSecret is required (a Secret with the REDIS_URL), or set bundled.enabled=true for a demo" -}}
{{- end -}}
{{- end -}}
{{- if and (not .Values.secrets.existingSecret) (or (not .Values.secrets.values.djangoSecretKey) (not .Values.secrets.values.credentialsEncryptionKey)) -}}
{{- fail "secrets.existingSecret is required (DJANGO_SECRET_KEY and CREDENTIALS_ENCRYPTION_KEY), or set secrets.values.djangoSecretKey and secrets.values.credentialsEncryptionKey" -}}
{{- end -}}
{{- $s3 := .Values.backups.s3 -}}
{{- if and $s3.endpoint (not $s3.existingSecret) (not .Values.secrets.existingSecret) (or (not .Values.secrets.values.backupS3AccessKey) (not .Values.secrets.values.backupS3SecretKey)) -}}
{{- fail "backups.s3.existingSecret is required when backups.s3.endpoint is set (a Secret with the bucket's access and secret keys), or set secrets.values.backupS3AccessKey and secrets.values.backupS3SecretKey" -}}
{{- end -}}
{{- end -}}

{{/* Checksums of what the pods read at start: a changed Secret or setting rolls them. */}}
{{- define "storeplane.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if not .Values.secrets.existingSecret }}
checksum/secrets: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end -}}

{{/* The environment every platform container gets: settings from the ConfigMap, secrets by key, the URLs. */}}
{{- define "storeplane.env" -}}
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: DJANGO_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "storeplane.secretName" . }}
      key: DJANGO_SECRET_KEY
- name: CREDENTIALS_ENCRYPTION_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "storeplane.secretName" . }}
      key: CREDENTIALS_ENCRYPTION_KEY
- name: JWT_SIGNING_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "storeplane.secretName" . }}
      key: JWT_SIGNING_KEY
      optional: true
- name: METRICS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "storeplane.secretName" . }}
      key: METRICS_TOKEN
      optional: true
{{- if .Values.bundled.enabled }}
{{- $pg := include "storeplane.serviceEnv" (include "storeplane.postgresqlName" .) }}
{{- $redis := include "storeplane.serviceEnv" (include "storeplane.redisName" .) }}
- name: BUNDLED_POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "storeplane.bundledSecretName" . }}
      key: postgres-password
- name: BUNDLED_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "storeplane.bundledSecretName" . }}
      key: redis-password
{{- /* Service env vars: the pods are created after the release's Services, and no cluster DNS is needed. */}}
- name: DATABASE_URL
  value: "postgres://storeplane:$(BUNDLED_POSTGRES_PASSWORD)@$({{ $pg }}_SERVICE_HOST):$({{ $pg }}_SERVICE_PORT)/storeplane"
- name: REDIS_URL
  value: "redis://:$(BUNDLED_REDIS_PASSWORD)@$({{ $redis }}_SERVICE_HOST):$({{ $redis }}_SERVICE_PORT)/0"
{{- else }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalDatabase.existingSecret }}
      key: {{ .Values.externalDatabase.existingSecretKey }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalRedis.existingSecret }}
      key: {{ .Values.externalRedis.existingSecretKey }}
{{- end }}
- name: CELERY_BROKER_URL
  value: "$(REDIS_URL)"
{{- if .Values.backups.s3.endpoint }}
- name: BACKUP_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "storeplane.backupSecretName" . }}
      key: {{ .Values.backups.s3.accessKeyKey }}
- name: BACKUP_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "storeplane.backupSecretName" . }}
      key: {{ .Values.backups.s3.secretKeyKey }}
{{- end }}
{{- end -}}

{{- define "storeplane.envFrom" -}}
- configMapRef:
    name: {{ include "storeplane.fullname" . }}
{{- end -}}

{{- define "storeplane.podSpecCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.dnsPolicy }}
dnsPolicy: {{ . }}
{{- end }}
{{- with .Values.dnsConfig }}
dnsConfig:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The ServiceAccount token, mounted where client-go and the image's entrypoint look for it. */}}
{{- define "storeplane.tokenVolume" -}}
- name: sa-token
{{- if .Values.serviceAccount.tokenSecret }}
  secret:
    secretName: {{ printf "%s-token" (include "storeplane.serviceAccountName" .) }}
    defaultMode: 0440
{{- else }}
  projected:
    defaultMode: 0440
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3600
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
{{- end }}
{{- end -}}

{{- define "storeplane.tokenMount" -}}
- name: sa-token
  mountPath: /var/run/secrets/kubernetes.io/serviceaccount
  readOnly: true
{{- end -}}
