{{/* Names and labels. */}}
{{- define "gatehouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gatehouse.fullname" -}}
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

{{- define "gatehouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatehouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gatehouse.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "gatehouse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "gatehouse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gatehouse.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* An image reference from {repository, tag, digest}; tag defaults to the chart's appVersion. */}}
{{- define "gatehouse.image" -}}
{{- $img := index . 0 -}}
{{- $default := index . 1 -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default $default $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* The configuration file's text, as gatehouse reads it. */}}
{{- define "gatehouse.configText" -}}
{{- if kindIs "string" .Values.config -}}
{{- .Values.config -}}
{{- else -}}
{{- toYaml .Values.config -}}
{{- end -}}
{{- end -}}

{{/* The replicas the autoscaler keeps at least. */}}
{{- define "gatehouse.minReplicas" -}}
{{- if .Values.autoscaling.enabled -}}
{{- int (default .Values.replicaCount .Values.autoscaling.minReplicas) -}}
{{- else -}}
{{- int .Values.replicaCount -}}
{{- end -}}
{{- end -}}

{{/* Paths the chart gives gatehouse. */}}
{{- define "gatehouse.secretsDir" -}}/var/run/gatehouse/secrets{{- end -}}
{{- define "gatehouse.secretSourcesDir" -}}/var/run/gatehouse/secret-sources{{- end -}}
{{- define "gatehouse.stateDir" -}}/var/lib/gatehouse{{- end -}}

{{/*
gatehouse.validate refuses, when the chart renders, values that cannot work
with several replicas or that would put a secret in a manifest. The
configuration's own checks run in gatehouse (serve --check, and at start).
*/}}
{{- define "gatehouse.validate" -}}
{{- $cfg := dict -}}
{{- if kindIs "string" .Values.config -}}
{{- $cfg = fromYaml .Values.config -}}
{{- if hasKey $cfg "Error" -}}
{{- fail (printf "config: not a YAML mapping: %s" (get $cfg "Error")) -}}
{{- end -}}
{{- else if kindIs "map" .Values.config -}}
{{- $cfg = .Values.config -}}
{{- end -}}
{{- if not $cfg -}}
{{- fail "config is empty: give gatehouse.yaml as a map, or as text with --set-file config=gatehouse.yaml" -}}
{{- end -}}
{{- $audit := get $cfg "audit" | default dict -}}
{{- $sink := get $audit "sink" | default "sqlite" -}}
{{- if not (has $sink (list "postgres" "jsonl")) -}}
{{- fail (printf "config.audit.sink %s: a pod's files die with it, and each replica would keep a trail of its own: use postgres (shared by the replicas) or jsonl (to the pods' logs)" $sink) -}}
{{- end -}}
{{- if get $audit "replica" -}}
{{- fail "config.audit.replica: every pod would write the same chain; leave it unset and each pod names its chain after its host name (the pod's name)" -}}
{{- end -}}
{{- $issuer := get (get $cfg "creds" | default dict) "issuer" | default dict -}}
{{- $keyDir := get $issuer "key_dir" | default "" -}}
{{- if $keyDir -}}
{{- if get $issuer "signing_key" -}}
{{- if not (hasPrefix (printf "%s/" (include "gatehouse.stateDir" .)) $keyDir) -}}
{{- fail (printf "config.creds.issuer.key_dir %s: gatehouse records the vault key's versions there: give a directory under %s (the pods' writable volume)" $keyDir (include "gatehouse.stateDir" .)) -}}
{{- end -}}
{{- else if not (hasPrefix (printf "%s/" (include "gatehouse.secretsDir" .)) $keyDir) -}}
{{- fail (printf "config.creds.issuer.key_dir %s without creds.issuer.signing_key: each pod would make an issuer signing key of its own, and AWS would see a different key set from each; keep the key in AWS KMS or Azure Key Vault (creds.issuer.signing_key), or give the key file from a Secret (secretFiles) under %s/NAME" $keyDir (include "gatehouse.secretsDir" .)) -}}
{{- end -}}
{{- end -}}
{{- range .Values.extraEnv -}}
{{- if and (hasKey . "value") (regexMatch "(?i)(secret|passw|token|_key$|^key$|dsn|credential|private)" .name) (not (regexMatch "(?i)_(file|path|arn|id)$" .name)) -}}
{{- fail (printf "extraEnv %s: a name for a secret, with a value in the manifest; gatehouse takes no secret from its environment: name where it lives in the configuration instead" .name) -}}
{{- end -}}
{{- if and (hasKey . "valueFrom") (hasKey .valueFrom "secretKeyRef") -}}
{{- fail (printf "extraEnv %s: from a Secret; gatehouse takes no secret from its environment: use secretFiles and a file reference, or a vault reference" .name) -}}
{{- end -}}
{{- end -}}
{{- if ge (add (int .Values.preStopSleepSeconds) 30) (int .Values.terminationGracePeriodSeconds) -}}
{{- fail (printf "terminationGracePeriodSeconds %d: the pod needs preStopSleepSeconds (%d) and gatehouse's 30 s drain, and more" (int .Values.terminationGracePeriodSeconds) (int .Values.preStopSleepSeconds)) -}}
{{- end -}}
{{- $min := int (include "gatehouse.minReplicas" .) -}}
{{- if lt $min 1 -}}
{{- fail "replicaCount (and autoscaling.minReplicas): at least 1" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) $min) -}}
{{- fail (printf "autoscaling.maxReplicas %d is below the minimum of %d replicas" (int .Values.autoscaling.maxReplicas) $min) -}}
{{- end -}}
{{- $pdb := .Values.podDisruptionBudget -}}
{{- if $pdb.enabled -}}
{{- if and (not (kindIs "invalid" $pdb.minAvailable)) (not (kindIs "invalid" $pdb.maxUnavailable)) -}}
{{- fail "podDisruptionBudget: give minAvailable or maxUnavailable, not both" -}}
{{- end -}}
{{- /* A percentage ("50%") is the cluster's to round; numbers are checked. */ -}}
{{- if not (kindIs "invalid" $pdb.minAvailable) -}}
{{- if and (not (kindIs "string" $pdb.minAvailable)) (ge (int $pdb.minAvailable) $min) -}}
{{- fail (printf "podDisruptionBudget.minAvailable %d with %d replicas: no pod could ever be evicted, so node drains would hang; at most %d" (int $pdb.minAvailable) $min (sub $min 1)) -}}
{{- end -}}
{{- else if kindIs "invalid" $pdb.maxUnavailable -}}
{{- fail "podDisruptionBudget: give minAvailable or maxUnavailable" -}}
{{- else if and (not (kindIs "string" $pdb.maxUnavailable)) (lt (int $pdb.maxUnavailable) 1) -}}
{{- fail "podDisruptionBudget.maxUnavailable 0: no pod could ever be evicted, so node drains would hang; at least 1" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
gatehouse.copyScript copies each key of each Secret mounted under the
sources directory to the secrets directory, as a file of the pod's user
with mode 0600 (umask 077), replaced by a rename so gatehouse never reads
half a file; then, while INTERVAL > 0, again every INTERVAL seconds,
copying only what changed.
*/}}
{{- define "gatehouse.copyScript" -}}
set -eu
umask 077
copy() {
  for dir in {{ include "gatehouse.secretSourcesDir" . }}/*/; do
    [ -d "$dir" ] || continue
    name=$(basename "$dir")
    mkdir -p "{{ include "gatehouse.secretsDir" . }}/$name"
    for src in "$dir"*; do
      [ -f "$src" ] || continue
      dst="{{ include "gatehouse.secretsDir" . }}/$name/$(basename "$src")"
      if ! cmp -s "$src" "$dst"; then
        cat "$src" > "$dst.tmp"
        mv -f "$dst.tmp" "$dst"
        echo "copied $name/$(basename "$src")"
      fi
    done
  done
}
copy
while [ "$INTERVAL" -gt 0 ]; do
  sleep "$INTERVAL"
  copy
done
{{- end -}}

{{- define "gatehouse.copierMounts" -}}
- name: secrets
  mountPath: {{ include "gatehouse.secretsDir" . }}
{{- $seen := dict }}
{{- range $i, $s := .Values.secretFiles }}
{{- if hasKey $seen $s.secret }}
{{- fail (printf "secretFiles: Secret %s is listed twice" $s.secret) }}
{{- end }}
{{- $_ := set $seen $s.secret true }}
- name: secret-source-{{ $i }}
  mountPath: {{ include "gatehouse.secretSourcesDir" $ }}/{{ $s.secret }}
  readOnly: true
{{- end }}
{{- end -}}
