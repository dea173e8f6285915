{{/*
Shared helpers. Components are named function-controller, http-trigger, kafka-trigger and
sqs-trigger; "ctx" below is (dict "root" $ "component" <name> "values" <its values block>).
*/}}

{{- define "kubeless.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every object name: the release name, or <release>-kubeless. */}}
{{- define "kubeless.fullname" -}}
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

{{- define "kubeless.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "kubeless.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubeless
{{- end -}}

{{/* Object name of one component: <fullname>-<component>. */}}
{{- define "kubeless.componentName" -}}
{{- printf "%s-%s" (include "kubeless.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kubeless.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubeless.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "kubeless.componentLabels" -}}
{{ include "kubeless.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "kubeless.image" -}}
{{- printf "%s:%s" .values.image.repository (.values.image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}

{{/* Namespaces the controllers act in: the watched one, or every namespace (""). */}}
{{- define "kubeless.clusterWide" -}}
{{- if not .Values.watchNamespace -}}true{{- end -}}
{{- end -}}

{{/*
The ServiceAccount of one component.
*/}}
{{- define "kubeless.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "kubeless.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "kubeless.componentLabels" . | nindent 4 }}
  {{- with .values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: true
{{- end -}}

{{/*
The Deployment of one controller. Optional in ctx, each a YAML list as a string: "env" (more
env entries), "envFrom", "volumes" and "volumeMounts".
Pods are `restricted`: non-root, read-only root filesystem, no capabilities, RuntimeDefault
seccomp; /tmp is the only writable path.
*/}}
{{- define "kubeless.deployment" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $name := include "kubeless.componentName" . -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "kubeless.componentLabels" . | nindent 4 }}
spec:
  replicas: {{ $v.replicas }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "kubeless.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "kubeless.selectorLabels" . | nindent 8 }}
        app.kubernetes.io/part-of: kubeless
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $v.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ $name }}
      automountServiceAccountToken: true
      enableServiceLinks: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . }}
        {{- end }}
      {{- end }}
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: 30
      containers:
        - name: {{ .component }}
          image: {{ include "kubeless.image" . | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          env:
            - name: LOG_LEVEL
              value: {{ $v.logLevel | default $root.Values.logLevel | quote }}
            - name: HEALTH_PORT
              value: "8081"
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            {{- with $root.Values.watchNamespace }}
            - name: WATCH_NAMESPACE
              value: {{ . | quote }}
            {{- end }}
            - name: LEADER_ELECT
              value: {{ $v.leaderElection.enabled | quote }}
            - name: LEASE_NAME
              value: {{ $name | quote }}
            {{- with .env }}
            {{- . | trim | nindent 12 }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- with .envFrom }}
          envFrom:
            {{- . | trim | nindent 12 }}
          {{- end }}
          ports:
            - name: http-health
              containerPort: 8081
              protocol: TCP
          livenessProbe:
            httpGet:
              path: /healthz
              port: http-health
            periodSeconds: 10
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: /readyz
              port: http-health
            periodSeconds: 5
          startupProbe:
            httpGet:
              path: /healthz
              port: http-health
            periodSeconds: 2
            failureThreshold: 30
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- with .volumeMounts }}
            {{- . | trim | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- with .volumes }}
        {{- . | trim | nindent 8 }}
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{- define "kubeless.pdb" -}}
{{- if .values.pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "kubeless.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "kubeless.componentLabels" . | nindent 4 }}
spec:
  {{- if hasKey .values.pdb "minAvailable" }}
  minAvailable: {{ .values.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .values.pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "kubeless.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* The metrics Service (the health server's /metrics on 8081), and its ServiceMonitor. */}}
{{- define "kubeless.metrics" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "kubeless.componentName" . }}-metrics
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "kubeless.componentLabels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "kubeless.selectorLabels" . | nindent 4 }}
  ports:
    - name: http-metrics
      port: 8081
      targetPort: http-health
      protocol: TCP
{{- if .root.Values.serviceMonitor.enabled }}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "kubeless.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "kubeless.componentLabels" . | nindent 4 }}
    {{- with .root.Values.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "kubeless.selectorLabels" . | nindent 6 }}
  namespaceSelector:
    matchNames: [{{ .root.Release.Namespace }}]
  endpoints:
    - port: http-metrics
      path: /metrics
      interval: {{ .root.Values.serviceMonitor.interval }}
      {{- with .root.Values.serviceMonitor.scrapeTimeout }}
      scrapeTimeout: {{ . }}
      {{- end }}
{{- end }}
{{- end -}}

{{/*
RBAC of one controller. ctx adds:
  rules         the rules on watched objects (YAML string): a ClusterRole bound cluster-wide, or,
                with watchNamespace set, a Role in that namespace
  releaseRules  more rules in the release namespace (YAML string, optional)
Every controller also gets its Lease in the release namespace: create (which cannot be limited
by name) and get/update of its own Lease only.
*/}}
{{- define "kubeless.rbac" -}}
{{- $root := .root -}}
{{- $name := include "kubeless.componentName" . -}}
{{- $wns := $root.Values.watchNamespace -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ if $wns }}Role{{ else }}ClusterRole{{ end }}
metadata:
  name: {{ $name }}
  {{- if $wns }}
  namespace: {{ $wns }}
  {{- end }}
  labels:
    {{- include "kubeless.componentLabels" . | nindent 4 }}
rules:
  {{- .rules | trim | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ if $wns }}RoleBinding{{ else }}ClusterRoleBinding{{ end }}
metadata:
  name: {{ $name }}
  {{- if $wns }}
  namespace: {{ $wns }}
  {{- end }}
  labels:
    {{- include "kubeless.componentLabels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: {{ if $wns }}Role{{ else }}ClusterRole{{ end }}
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ $name }}
    namespace: {{ $root.Release.Namespace }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $name }}-local
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "kubeless.componentLabels" . | nindent 4 }}
rules:
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    verbs: [create]
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    resourceNames: [{{ $name }}]
    verbs: [get, update]
  {{- with .releaseRules }}
  {{- . | trim | nindent 2 }}
  {{- end }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name }}-local
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "kubeless.componentLabels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $name }}-local
subjects:
  - kind: ServiceAccount
    name: {{ $name }}
    namespace: {{ $root.Release.Namespace }}
{{- end -}}

{{/*
Read access to named Secrets in other namespaces, for a trigger's per-trigger credentials
(.values.rbac.secrets: [{namespace, names}]). `get` only, by name: never list or watch, which
would expose every Secret of the namespace.
*/}}
{{- define "kubeless.secretGrants" -}}
{{- $ctx := . -}}
{{- $name := include "kubeless.componentName" . -}}
{{- $seen := dict -}}
{{- range $i, $g := .values.rbac.secrets }}
{{- if hasKey $seen $g.namespace }}
{{- fail (printf "%s.rbac.secrets names namespace %s twice: list its Secrets in one entry" $ctx.key $g.namespace) }}
{{- end }}
{{- $_ := set $seen $g.namespace true }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $name }}-secrets
  namespace: {{ $g.namespace }}
  labels:
    {{- include "kubeless.componentLabels" $ctx | nindent 4 }}
rules:
  - apiGroups: [""]
    resources: [secrets]
    resourceNames:
      {{- toYaml $g.names | nindent 6 }}
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name }}-secrets
  namespace: {{ $g.namespace }}
  labels:
    {{- include "kubeless.componentLabels" $ctx | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $name }}-secrets
subjects:
  - kind: ServiceAccount
    name: {{ $name }}
    namespace: {{ $ctx.root.Release.Namespace }}
{{- end }}
{{- end -}}
