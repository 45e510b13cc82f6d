{{/* Names, labels and the Deployment shared by the four services. */}}

{{- define "latchkey.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "latchkey.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "latchkey.labels" -}}
{{ include "latchkey.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* dict root, component, values */}}
{{- define "latchkey.serviceAccountName" -}}
{{- if .values.serviceAccount.create -}}
{{- default (printf "%s-%s" (include "latchkey.fullname" .root) .component) .values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "latchkey.image" -}}
{{- $img := .root.Values.image -}}
{{- printf "%s/%s/%s:%s" $img.registry $img.repositoryPrefix .component (default .root.Chart.AppVersion $img.tag) -}}
{{- end -}}

{{/*
One service Deployment. Arguments (dict):
  root       the chart's root context
  component  service name, e.g. flow-engine (also the image name)
  module     Python module, e.g. latchkey.flow_engine
  values     the service's values block
  database   true when the service gets LATCHKEY_DATABASE_URL (control plane only)
  connector  true for the connector (config volume, API token for k8s:// secrets)
*/}}
{{- define "latchkey.deployment" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $labelArgs := dict "root" $root "component" .component -}}
{{- $health := list "python" "-m" .module "health" -}}
{{- /* liveness asks only whether the process is alive: readiness also checks Kafka, the database and
     the IdP, and a dependency's outage must not make Kubernetes restart healthy pods */ -}}
{{- $alive := list "python" "-m" .module "health" "--path" "/livez" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "latchkey.fullname" $root }}-{{ .component }}
  labels:
    {{- include "latchkey.labels" $labelArgs | nindent 4 }}
spec:
  replicas: {{ $v.replicaCount }}
  selector:
    matchLabels:
      {{- include "latchkey.selectorLabels" $labelArgs | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "latchkey.selectorLabels" $labelArgs | nindent 8 }}
      {{- if .connector }}
      annotations:
        # Roll the replicas when connector.yaml or a template changes.
        checksum/config: {{ include (print $root.Template.BasePath "/connector-configmap.yaml") $root | sha256sum }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "latchkey.serviceAccountName" (dict "root" $root "component" .component "values" $v) }}
      # Only the connector may need the Kubernetes API (k8s:// secret references, RBAC integration).
      automountServiceAccountToken: {{ .connector | default false }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "latchkey.image" $labelArgs }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          env:
            - name: LATCHKEY_INSTANCE_ID
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            {{- /* Set only when given: the environment wins over connector.yaml's `kafka:` section, so
                 an empty value must leave the variable out for that section to apply. */}}
            {{- if $root.Values.kafka.bootstrap }}
            - name: LATCHKEY_KAFKA_BOOTSTRAP
              value: {{ $root.Values.kafka.bootstrap | quote }}
            {{- else if not .connector }}
            {{- fail (printf "kafka.bootstrap: name the Kafka bootstrap servers; %s has no other source for them (only the connector can take them from connector.yaml's kafka.bootstrap)" .component) }}
            {{- end }}
            {{- with $root.Values.kafka.topicPrefix }}
            - name: LATCHKEY_TOPIC_PREFIX
              value: {{ . | quote }}
            {{- end }}
            - name: LATCHKEY_TOPIC_REPLICATION
              value: {{ $root.Values.kafka.topicReplication | quote }}
            - name: LATCHKEY_KAFKA_SECURITY_PROTOCOL
              value: {{ $root.Values.kafka.securityProtocol | quote }}
            - name: LATCHKEY_KAFKA_SASL_MECHANISM
              value: {{ $root.Values.kafka.saslMechanism | quote }}
            - name: LATCHKEY_HEALTH_HOST
              value: "127.0.0.1"
            - name: LATCHKEY_HEALTH_PORT
              value: {{ $root.Values.healthPort | quote }}
            - name: LATCHKEY_OTEL_EXPORTER
              value: {{ $root.Values.telemetry.exporter | quote }}
            {{- with $root.Values.telemetry.otlpEndpoint }}
            - name: OTEL_EXPORTER_OTLP_ENDPOINT
              value: {{ . | quote }}
            {{- end }}
            - name: OTEL_SERVICE_NAME
              value: {{ .component | quote }}
            {{- if .database }}
            - name: LATCHKEY_DATABASE_URL
              valueFrom:
                secretKeyRef:
                  name: {{ $root.Values.database.secretName }}
                  key: {{ $root.Values.database.secretKey }}
            {{- end }}
            {{- with .oidc }}
            - name: LATCHKEY_OIDC_ISSUER
              value: {{ .issuer | quote }}
            - name: LATCHKEY_OIDC_AUDIENCE
              value: {{ .audience | quote }}
            {{- end }}
            {{- with .signingKey }}
            - name: LATCHKEY_SIGNING_KEY
              valueFrom:
                secretKeyRef:
                  name: {{ .secretName }}
                  key: {{ .secretKey }}
            {{- end }}
            {{- if .connector }}
            - name: LATCHKEY_CONFIG_PATH
              value: /etc/latchkey/connector.yaml
            {{- end }}
            {{- range $k, $val := merge (dict) $v.env $root.Values.commonEnv }}
            - name: {{ $k }}
              value: {{ $val | quote }}
            {{- end }}
          {{- with $v.envFromSecrets }}
          envFrom:
            {{- range . }}
            - secretRef:
                name: {{ .name }}
            {{- end }}
          {{- end }}
          readinessProbe:
            exec:
              command: {{ toJson $health }}
            initialDelaySeconds: 5
            periodSeconds: 10
            timeoutSeconds: 5
          livenessProbe:
            exec:
              command: {{ toJson $alive }}
            initialDelaySeconds: 30
            periodSeconds: 20
            timeoutSeconds: 5
            failureThreshold: 6
          {{- with $v.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if .connector }}
            - name: config
              mountPath: /etc/latchkey
              readOnly: true
            {{- end }}
      volumes:
        - name: tmp
          emptyDir: {}
        {{- if .connector }}
        - name: config
          configMap:
            {{- if $v.existingConfigMap }}
            name: {{ $v.existingConfigMap }}
            {{- else }}
            name: {{ include "latchkey.fullname" $root }}-connector
            items:
              - key: connector.yaml
                path: connector.yaml
              {{- range $k, $_ := $v.templates }}
              - key: {{ $k }}
                path: templates/{{ $k | replace "__" "/" }}
              {{- end }}
            {{- end }}
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
