{{/*
Shared naming, labels, secret checks and pod fragments. Selector labels carry only name/instance/component, so they
are stable across upgrades and never overlap between workloads.
*/}}

{{/* The store id, validated: every object name derives from it. */}}
{{- define "store.id" -}}
{{- $id := required "storeId is required (the platform's store id, a DNS label)" .Values.storeId -}}
{{- if not (regexMatch "^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$" $id) -}}
{{- fail (printf "storeId %q must be a DNS label of at most 40 characters (a-z, 0-9, '-')" $id) -}}
{{- end -}}
{{- $id -}}
{{- end -}}

{{/* Object name of one component: "<storeId>-<component>". */}}
{{- define "store.name" -}}
{{- printf "%s-%s" (include "store.id" .root) .component -}}
{{- end -}}

{{/* Kubernetes' service env var holding a Service's ClusterIP (works with or without cluster DNS). */}}
{{- define "store.serviceHostVar" -}}
{{- printf "$(%s_SERVICE_HOST)" (include "store.name" . | upper | replace "-" "_") -}}
{{- end -}}

{{- define "store.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "store.labels" -}}
helm.sh/chart: {{ include "store.chart" . }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: storeplane
storeplane.io/store-id: {{ include "store.id" . }}
storeplane.io/engine: {{ .Values.engine }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: immutable, unique per workload. */}}
{{- define "store.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels of one component's objects and pods. */}}
{{- define "store.componentLabels" -}}
{{ include "store.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* image reference: repository:tag, or repository@digest when a digest is pinned. */}}
{{- define "store.image" -}}
{{- if .digest -}}
{{- printf "%s@%s" .repository .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository (toString .tag) -}}
{{- end -}}
{{- end -}}

{{/*
A required secret value: fails rendering with the key's name when it is missing or too short.
Usage: include "store.secret" (dict "value" .Values.x.y "key" "x.y" "min" 12)
*/}}
{{- define "store.secret" -}}
{{- $v := .value | default "" | toString -}}
{{- if not $v -}}
{{- fail (printf "%s is required: the platform passes it in the secrets values file (no default exists)" .key) -}}
{{- end -}}
{{- if lt (len $v) (int .min) -}}
{{- fail (printf "%s must be at least %d characters long" .key (int .min)) -}}
{{- end -}}
{{- $v -}}
{{- end -}}

{{/* Pod-level fields every pod of the release shares (DNS, pull secrets, service account, no API token). */}}
{{- define "store.podCommon" -}}
automountServiceAccountToken: false
serviceAccountName: {{ include "store.serviceAccountName" . }}
{{- with .Values.dnsPolicy }}
dnsPolicy: {{ . }}
{{- end }}
{{- with .Values.dnsConfig }}
dnsConfig:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "store.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "store.id" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Scheduling fields of one workload's values. */}}
{{- define "store.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A probe's timing fields from values (the handler is written by the template). */}}
{{- define "store.probeTiming" -}}
{{- toYaml (omit . "enabled") -}}
{{- end -}}

{{/*
Init container that waits until a database Service accepts TCP connections. Only sh, nc, sleep, date and wget may be
assumed in the toolbox (busybox); `nc HOST PORT -e PROG ARGS` exits 0 once connected with both Debian's and upstream
busybox nc. The wait is bounded: the address is the Service's env variable, which the kubelet fills in when it
creates the container, so a pod started before the kubelet knew the Service (right after an API server restart)
would otherwise wait forever. It exits non-zero at once when the variable was left unexpanded, and after
toolbox.waitTimeoutSeconds otherwise; the kubelet then restarts it with fresh variables. (No cluster DNS is
assumed: the local cluster has none, so the Service's DNS name is no way around the variable.)
Usage: include "store.waitFor" (dict "root" $ "component" "mariadb" "port" 3306)
*/}}
{{- define "store.waitFor" -}}
- name: wait-for-{{ .component }}
  image: {{ include "store.image" .root.Values.toolbox.image }}
  imagePullPolicy: {{ .root.Values.toolbox.image.pullPolicy }}
  command:
    - sh
    - -c
    - |
      case "$DB_HOST" in
        '$('*) echo "the database Service's address is not in this container's environment ($DB_HOST): exiting so the kubelet restarts it"; exit 1 ;;
      esac
      deadline=$(( $(date +%s) + WAIT_TIMEOUT ))
      until nc -w 3 "$DB_HOST" "$DB_PORT" -e sleep 0; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
          echo "$DB_HOST:$DB_PORT did not answer in ${WAIT_TIMEOUT}s: exiting so the kubelet restarts this container"; exit 1
        fi
        echo "waiting for $DB_HOST:$DB_PORT"; sleep "$WAIT_INTERVAL"
      done
  # Why it gave up shows in the pod's status (kubectl describe), not only in the restarted container's old logs.
  terminationMessagePolicy: FallbackToLogsOnError
  env:
    - name: DB_HOST
      value: {{ include "store.serviceHostVar" . | quote }}
    - name: DB_PORT
      value: {{ .port | quote }}
    - name: WAIT_INTERVAL
      value: {{ .root.Values.toolbox.waitIntervalSeconds | quote }}
    - name: WAIT_TIMEOUT
      value: {{ .root.Values.toolbox.waitTimeoutSeconds | quote }}
  resources:
    {{- toYaml .root.Values.toolbox.resources | nindent 4 }}
  securityContext:
    {{- toYaml .root.Values.toolbox.securityContext | nindent 4 }}
{{- end -}}

{{/* Public base URL of the store. */}}
{{- define "store.host" -}}
{{- if .Values.ingress.host -}}
{{- .Values.ingress.host -}}
{{- else -}}
{{- $suffix := .Values.ingress.hostSuffix -}}
{{- if not (hasPrefix "." $suffix) }}{{ $suffix = printf ".%s" $suffix }}{{ end -}}
{{- printf "%s%s" (include "store.id" .) $suffix -}}
{{- end -}}
{{- end -}}

{{- define "store.url" -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) (include "store.host" .) -}}
{{- end -}}

{{- /*
Why the store answers with the closed page instead of its shop, if it does: "suspended" (its owner closed it: every
workload at zero) or "maintenance" (the platform is replacing its data, a restore into the same store: the workloads
run, shoppers are kept out so nothing they do is lost); empty while the shop is open.
*/ -}}
{{- define "store.closedFor" -}}
{{- if .Values.suspended }}suspended{{- else if .Values.maintenance }}maintenance{{- end }}
{{- end }}

{{- /*
Which closed page the closed-page pod serves, if it runs: store.closedFor, or "maintenance" while the platform starts
it ahead of closing the shop (closedPage.standby: the pod is ready before the Ingress turns to it, so a shopper never
meets a route without a ready backend, which the controller answers with its own 404).
*/ -}}
{{- define "store.closedPage" -}}
{{- include "store.closedFor" . | default (ternary "maintenance" "" (.Values.closedPage.standby | default false)) }}
{{- end }}
