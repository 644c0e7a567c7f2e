{{/* Names and labels shared by every object of the chart. */}}

{{- define "coder.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* fullname: the release name when it already contains the chart's, so
"helm install coder ./helm/coder" makes objects named "coder". */}}
{{- define "coder.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "coder.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: coder
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "coder.selectorLabels" -}}
app.kubernetes.io/name: {{ include "coder.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "coder.provisionerSelectorLabels" -}}
app.kubernetes.io/name: {{ include "coder.name" . }}-provisioner
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "coder.serviceAccountName" -}}
{{- if .Values.coder.serviceAccount.create -}}
{{- default (include "coder.fullname" .) .Values.coder.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.coder.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* serviceURL: coderd as seen from inside the cluster. */}}
{{- define "coder.serviceURL" -}}
{{- printf "http://%s.%s.svc.cluster.local" (include "coder.fullname" .) .Release.Namespace -}}
{{- if ne (int .Values.coder.service.port) 80 -}}:{{ .Values.coder.service.port }}{{- end -}}
{{- end -}}

{{- define "coder.image" -}}
{{- printf "%s:%s" .Values.coder.image.repo (.Values.coder.image.tag | toString) -}}
{{- end -}}

{{/* shutdownGraceSeconds parses coder.shutdownGracePeriod ("30s", "2m",
"1m30s") into whole seconds. */}}
{{- define "coder.shutdownGraceSeconds" -}}
{{- $d := .Values.coder.shutdownGracePeriod | toString -}}
{{- if not (regexMatch "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$" $d) -}}
{{- fail (printf "coder.shutdownGracePeriod %q: use whole hours, minutes and seconds, e.g. 30s, 2m or 1m30s" $d) -}}
{{- end -}}
{{- $h := regexFind "[0-9]+h" $d | trimSuffix "h" | default "0" | int -}}
{{- $m := regexFind "[0-9]+m" $d | trimSuffix "m" | default "0" | int -}}
{{- $s := regexFind "[0-9]+s" $d | trimSuffix "s" | default "0" | int -}}
{{- add (mul $h 3600) (mul $m 60) $s -}}
{{- end -}}
