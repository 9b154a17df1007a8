package deploy

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
)

// helmModule is Helm itself, run from its module at the version .ci/run
// lints the chart with: nothing to install but Go and the module proxy.
const helmModule = "helm.sh/helm/v4/cmd/helm@v4.3.2"

const chart = "helm/gatehouse"

// helm is the Helm executable `go run helmModule` builds (and caches),
// copied here once by running it with -exec cp: each render then costs
// Helm's own time, not the go command's. helmErr says why there is none.
var (
	helm    string
	helmErr error
	tmpDir  string
)

func TestMain(m *testing.M) {
	var err error
	if tmpDir, err = os.MkdirTemp("", "gatehouse-chart-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	helm = filepath.Join(tmpDir, "helm")
	if out, err := exec.Command("go", "run", "-exec", "cp", helmModule, helm).CombinedOutput(); err != nil {
		helmErr = fmt.Errorf("go run %s: %v\n%s", helmModule, err, out)
	}
	code := m.Run()
	os.RemoveAll(tmpDir)
	os.Exit(code)
}

// needHelm skips the test when Helm cannot be run here (no module proxy,
// GOFLAGS=-mod=vendor, ...), and fails it under CI, where it must run.
func needHelm(t *testing.T) {
	t.Helper()
	if helmErr == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("Helm must run under CI: %v", helmErr)
	}
	t.Skipf("Helm cannot run here (under CI=true this fails): %v", helmErr)
}

var valuesFiles atomic.Int64

// render runs helm template on the chart with the values files (YAML
// texts), and returns its manifests, or its error output if it fails.
func render(t *testing.T, values ...string) ([]manifest, string) {
	t.Helper()
	needHelm(t)
	args := []string{"template", "gh", chart, "--namespace", "edge"}
	for _, v := range values {
		// Not t.TempDir: helm splits --values at commas, which test names hold.
		p := filepath.Join(tmpDir, fmt.Sprintf("values-%d.yaml", valuesFiles.Add(1)))
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--values", p)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helm, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, stderr.String() + err.Error()
	}
	var out []manifest
	for _, doc := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(stdout.String(), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var m manifest
		decode(t, doc, &m)
		m.text = doc
		out = append(out, m)
	}
	return out, ""
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func decode(t *testing.T, text string, v any) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(text), v); err != nil {
		t.Fatalf("a rendered manifest does not parse: %v\n%s", err, text)
	}
}

// The parts of the Kubernetes objects the checks read.
type (
	manifest struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   meta   `yaml:"metadata"`
		text       string
	}
	meta struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	deployment struct {
		Spec struct {
			Replicas *int `yaml:"replicas"`
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template struct {
				Metadata meta    `yaml:"metadata"`
				Spec     podSpec `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	podSpec struct {
		ServiceAccountName           string               `yaml:"serviceAccountName"`
		AutomountServiceAccountToken *bool                `yaml:"automountServiceAccountToken"`
		SecurityContext              podSecurityContext   `yaml:"securityContext"`
		InitContainers               []container          `yaml:"initContainers"`
		Containers                   []container          `yaml:"containers"`
		Volumes                      []volume             `yaml:"volumes"`
		TopologySpreadConstraints    []topologyConstraint `yaml:"topologySpreadConstraints"`
	}
	podSecurityContext struct {
		RunAsNonRoot   *bool          `yaml:"runAsNonRoot"`
		RunAsUser      *int64         `yaml:"runAsUser"`
		RunAsGroup     *int64         `yaml:"runAsGroup"`
		FSGroup        *int64         `yaml:"fsGroup"`
		SeccompProfile seccompProfile `yaml:"seccompProfile"`
	}
	seccompProfile struct {
		Type string `yaml:"type"`
	}
	container struct {
		Name            string           `yaml:"name"`
		Image           string           `yaml:"image"`
		Args            []string         `yaml:"args"`
		Env             []envVar         `yaml:"env"`
		Ports           []containerPort  `yaml:"ports"`
		StartupProbe    *probe           `yaml:"startupProbe"`
		ReadinessProbe  *probe           `yaml:"readinessProbe"`
		LivenessProbe   *probe           `yaml:"livenessProbe"`
		SecurityContext *securityContext `yaml:"securityContext"`
		VolumeMounts    []volumeMount    `yaml:"volumeMounts"`
		Lifecycle       struct {
			PreStop struct {
				Sleep struct {
					Seconds int `yaml:"seconds"`
				} `yaml:"sleep"`
			} `yaml:"preStop"`
		} `yaml:"lifecycle"`
	}
	envVar struct {
		Name      string         `yaml:"name"`
		Value     *string        `yaml:"value"`
		ValueFrom map[string]any `yaml:"valueFrom"`
	}
	containerPort struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	}
	probe struct {
		HTTPGet *struct {
			Path   string `yaml:"path"`
			Port   any    `yaml:"port"`
			Scheme string `yaml:"scheme"`
		} `yaml:"httpGet"`
	}
	securityContext struct {
		RunAsNonRoot             *bool          `yaml:"runAsNonRoot"`
		RunAsUser                *int64         `yaml:"runAsUser"`
		ReadOnlyRootFilesystem   *bool          `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool          `yaml:"allowPrivilegeEscalation"`
		Privileged               *bool          `yaml:"privileged"`
		SeccompProfile           seccompProfile `yaml:"seccompProfile"`
		Capabilities             struct {
			Add  []string `yaml:"add"`
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	}
	volumeMount struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	}
	volume struct {
		Name     string         `yaml:"name"`
		EmptyDir map[string]any `yaml:"emptyDir"`
		Secret   *struct {
			SecretName  string `yaml:"secretName"`
			DefaultMode *int   `yaml:"defaultMode"`
		} `yaml:"secret"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
	}
	topologyConstraint struct {
		TopologyKey   string `yaml:"topologyKey"`
		LabelSelector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"labelSelector"`
	}
	service struct {
		Spec struct {
			Type     string            `yaml:"type"`
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Name       string `yaml:"name"`
				Port       int    `yaml:"port"`
				TargetPort any    `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	pdb struct {
		Spec struct {
			MinAvailable   any `yaml:"minAvailable"`
			MaxUnavailable any `yaml:"maxUnavailable"`
			Selector       struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
		} `yaml:"spec"`
	}
	hpa struct {
		Spec struct {
			ScaleTargetRef struct {
				Kind string `yaml:"kind"`
				Name string `yaml:"name"`
			} `yaml:"scaleTargetRef"`
			MinReplicas int `yaml:"minReplicas"`
			MaxReplicas int `yaml:"maxReplicas"`
		} `yaml:"spec"`
	}
	serviceMonitor struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Endpoints []struct {
				Port string `yaml:"port"`
				Path string `yaml:"path"`
			} `yaml:"endpoints"`
		} `yaml:"spec"`
	}
	configMap struct {
		Data map[string]string `yaml:"data"`
	}
)

// want is what a set of values should render beyond the common checks.
type want struct {
	replicas       int // the Deployment's; 0: unset, the autoscaler's
	hpaMin, hpaMax int // 0: no autoscaler
	serviceMonitor bool
	copier, sync   bool // the secret file copier, and its sync container
	annotations    map[string]string
	podLabels      map[string]string
	preStopSleep   int // seconds; 0: no preStop hook
}

// kinds are the objects the chart may render; a Secret is never one.
var kinds = map[string]bool{"ConfigMap": true, "Deployment": true, "Service": true, "ServiceAccount": true,
	"PodDisruptionBudget": true, "HorizontalPodAutoscaler": true, "ServiceMonitor": true, "NetworkPolicy": true}

func find(ms []manifest, kind string) []manifest {
	var out []manifest
	for _, m := range ms {
		if m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

func one(t *testing.T, ms []manifest, kind string, v any) manifest {
	t.Helper()
	found := find(ms, kind)
	if len(found) != 1 {
		t.Fatalf("%d %s objects rendered; want 1", len(found), kind)
	}
	decode(t, found[0].text, v)
	return found[0]
}

// imageUser is the user the image runs as: the Dockerfile's USER.
func imageUser(t *testing.T) int64 {
	t.Helper()
	df, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^USER (\d+):(\d+)\s*$`).FindSubmatch(df)
	if m == nil {
		t.Fatal("the Dockerfile has no numeric USER uid:gid")
	}
	uid, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return uid
}

var secretName = regexp.MustCompile(`(?i)(secret|passw|token|_key$|^key$|dsn|credential|private)`)

// check holds the rendered manifests to what every gatehouse deployment
// needs, and to w.
func check(t *testing.T, ms []manifest, w want) {
	t.Helper()
	for _, m := range ms {
		if !kinds[m.Kind] {
			t.Errorf("%s %s rendered: the chart renders no such object (and never a Secret)", m.Kind, m.Metadata.Name)
		}
		if m.Metadata.Namespace != "edge" {
			t.Errorf("%s %s: namespace %q, not the release's", m.Kind, m.Metadata.Name, m.Metadata.Namespace)
		}
	}

	var dep deployment
	depM := one(t, ms, "Deployment", &dep)
	pod := dep.Spec.Template.Spec
	podLabels := dep.Spec.Template.Metadata.Labels
	for k, v := range dep.Spec.Selector.MatchLabels {
		if podLabels[k] != v {
			t.Errorf("the Deployment's selector %s=%s does not select its own pods (%v)", k, v, podLabels)
		}
	}
	for k, v := range w.podLabels {
		if podLabels[k] != v {
			t.Errorf("pod label %s = %q; want %q", k, podLabels[k], v)
		}
	}

	// The pod: the image's non-root user, fsGroup for the Secrets, no API token.
	uid := imageUser(t)
	sc := pod.SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != uid || sc.FSGroup == nil || *sc.FSGroup != uid {
		t.Errorf("pod securityContext runAsNonRoot %v runAsUser %v fsGroup %v; want true, %d (the Dockerfile's USER), %d", ptr(sc.RunAsNonRoot), ptr(sc.RunAsUser), ptr(sc.FSGroup), uid, uid)
	}
	if sc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod seccompProfile %q; want RuntimeDefault", sc.SeccompProfile.Type)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the pods mount a Kubernetes API token; gatehouse needs none")
	}

	// Every container, the copier's too: non-root, read-only, nothing to escalate.
	all := append(slices.Clone(pod.InitContainers), pod.Containers...)
	for _, c := range all {
		s := c.SecurityContext
		switch {
		case s == nil:
			t.Errorf("container %s has no securityContext", c.Name)
			continue
		case s.RunAsNonRoot == nil || !*s.RunAsNonRoot:
			t.Errorf("container %s: runAsNonRoot is not true", c.Name)
		case s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem:
			t.Errorf("container %s: readOnlyRootFilesystem is not true", c.Name)
		case s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation:
			t.Errorf("container %s: allowPrivilegeEscalation is not false", c.Name)
		case s.Privileged != nil && *s.Privileged:
			t.Errorf("container %s is privileged", c.Name)
		case !slices.Contains(s.Capabilities.Drop, "ALL") || len(s.Capabilities.Add) > 0:
			t.Errorf("container %s: capabilities drop %v add %v; want drop ALL, add none", c.Name, s.Capabilities.Drop, s.Capabilities.Add)
		case s.SeccompProfile.Type != "RuntimeDefault" && sc.SeccompProfile.Type != "RuntimeDefault":
			t.Errorf("container %s: no RuntimeDefault seccomp profile", c.Name)
		}
		// No secret in the environment, literal or from a Secret.
		for _, e := range c.Env {
			if _, ok := e.ValueFrom["secretKeyRef"]; ok {
				t.Errorf("container %s: env %s comes from a Secret", c.Name, e.Name)
			}
			if e.Value != nil && secretName.MatchString(e.Name) && !regexp.MustCompile(`(?i)_(file|path|arn|id)$`).MatchString(e.Name) {
				t.Errorf("container %s: env %s holds a literal value under a secret's name", c.Name, e.Name)
			}
		}
	}

	var gh *container
	for i := range pod.Containers {
		if pod.Containers[i].Name == "gatehouse" {
			gh = &pod.Containers[i]
		}
	}
	if gh == nil {
		t.Fatal("no gatehouse container")
	}

	if got := gh.Lifecycle.PreStop.Sleep.Seconds; got != w.preStopSleep {
		t.Errorf("preStop sleep %d s; want %d", got, w.preStopSleep)
	}

	// The listeners: flags, container ports, probes.
	ports := map[string]int{}
	for _, p := range gh.Ports {
		ports[p.Name] = p.ContainerPort
	}
	flag := func(name string) string {
		i := slices.Index(gh.Args, name)
		if i < 0 || i+1 >= len(gh.Args) {
			t.Errorf("gatehouse's args %q have no %s", gh.Args, name)
			return ""
		}
		return gh.Args[i+1]
	}
	if !slices.Equal(gh.Args[:3], []string{"serve", "--config", "/etc/gatehouse/gatehouse.yaml"}) {
		t.Errorf("gatehouse's args %q; want serve --config /etc/gatehouse/gatehouse.yaml ...", gh.Args)
	}
	if got := flag("--admin-listen"); got != fmt.Sprintf(":%d", ports["admin"]) || ports["admin"] == 0 {
		t.Errorf("--admin-listen %q, container port admin %d: they must agree", got, ports["admin"])
	}
	if got := flag("--gateway-listen"); got != fmt.Sprintf(":%d", ports["https"]) || ports["https"] == 0 {
		t.Errorf("--gateway-listen %q, container port https %d: they must agree", got, ports["https"])
	}
	for _, p := range []struct {
		name string
		pr   *probe
		path string
	}{{"readiness", gh.ReadinessProbe, "/readyz"}, {"liveness", gh.LivenessProbe, "/healthz"}, {"startup", gh.StartupProbe, "/healthz"}} {
		if p.pr == nil || p.pr.HTTPGet == nil {
			t.Errorf("gatehouse has no %s probe over HTTP", p.name)
			continue
		}
		g := p.pr.HTTPGet
		onAdmin := g.Port == "admin" || fmt.Sprint(g.Port) == strconv.Itoa(ports["admin"])
		if g.Path != p.path || !onAdmin || (g.Scheme != "" && g.Scheme != "HTTP") {
			t.Errorf("%s probe: %s %s on port %v; want %s on the admin listener (port admin, %d), plain HTTP", p.name, g.Scheme, g.Path, g.Port, p.path, ports["admin"])
		}
	}

	// Volumes: Secrets owner-only and read-only; the copier alone reads them.
	vols := map[string]volume{}
	secretNames := map[string]bool{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
		if v.Secret != nil {
			secretNames[v.Secret.SecretName] = true
			if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o400 {
				t.Errorf("secret volume %s: defaultMode %v; want 0400 (256)", v.Name, ptr(v.Secret.DefaultMode))
			}
		}
	}
	mounts := map[string]volumeMount{} // gatehouse's, by path
	for _, c := range all {
		for _, m := range c.VolumeMounts {
			v, ok := vols[m.Name]
			if !ok {
				t.Errorf("container %s mounts %s, which is no volume", c.Name, m.Name)
				continue
			}
			if v.Secret != nil && (!m.ReadOnly || !strings.HasPrefix(c.Name, "secret-files")) {
				t.Errorf("container %s mounts Secret %s (read-only %v): only the copier reads Secrets, read-only", c.Name, v.Secret.SecretName, m.ReadOnly)
			}
			if v.ConfigMap != nil && !m.ReadOnly {
				t.Errorf("container %s mounts the ConfigMap writable", c.Name)
			}
			if c.Name == "gatehouse" {
				mounts[m.MountPath] = m
			}
		}
	}
	var names []string
	for _, c := range all {
		names = append(names, c.Name)
	}
	if got := slices.Contains(names, "secret-files"); got != w.copier {
		t.Errorf("containers %v: secret file copier %v, want %v", names, got, w.copier)
	}
	if got := slices.Contains(names, "secret-files-sync"); got != w.sync {
		t.Errorf("containers %v: secret file sync %v, want %v", names, got, w.sync)
	}

	// The configuration: what serve accepts, with every path it names
	// where the pod has it.
	var cm configMap
	one(t, ms, "ConfigMap", &cm)
	text, ok := cm.Data["gatehouse.yaml"]
	if !ok {
		t.Fatal("the ConfigMap has no gatehouse.yaml")
	}
	f, err := config.ParseFor("gatehouse.yaml", []byte(text), config.WhereServe)
	if err != nil {
		t.Errorf("gatehouse serve would refuse the ConfigMap's gatehouse.yaml:\n%v\n--- gatehouse.yaml\n%s", err, text)
	} else {
		checkPaths(t, f, mounts, vols, secretNames)
	}
	if sum, ok := dep.Spec.Template.Metadata.Annotations["checksum/config"]; !ok {
		t.Error("the pod template has no checksum/config annotation: a changed configuration would not roll the pods")
	} else if _, err := hex.DecodeString(sum); err != nil || len(sum) != 64 {
		t.Errorf("checksum/config %q is no SHA-256", sum)
	}

	// Spread over nodes and zones, each constraint selecting these pods.
	if len(pod.TopologySpreadConstraints) == 0 {
		t.Error("no topology spread constraints")
	}
	for _, c := range pod.TopologySpreadConstraints {
		for k, v := range c.LabelSelector.MatchLabels {
			if podLabels[k] != v {
				t.Errorf("topology spread on %s selects %s=%s, not these pods", c.TopologyKey, k, v)
			}
		}
		if len(c.LabelSelector.MatchLabels) == 0 {
			t.Errorf("topology spread on %s selects no pods", c.TopologyKey)
		}
	}

	// Services: the gateway's HTTPS, and the admin listener on its own.
	var gwSvc, adminSvc *service
	for _, m := range find(ms, "Service") {
		var s service
		decode(t, m.text, &s)
		for k, v := range s.Spec.Selector {
			if podLabels[k] != v {
				t.Errorf("Service %s selects %s=%s, not the pods", m.Metadata.Name, k, v)
			}
		}
		switch m.Metadata.Labels["app.kubernetes.io/component"] {
		case "gateway":
			gwSvc = &s
		case "admin":
			adminSvc = &s
		}
	}
	if gwSvc == nil || adminSvc == nil {
		t.Fatal("want a gateway Service and an admin Service")
	}
	for _, p := range gwSvc.Spec.Ports {
		if p.TargetPort != "https" {
			t.Errorf("the gateway Service's port %s reaches %v; want only the gateway (https)", p.Name, p.TargetPort)
		}
	}
	if adminSvc.Spec.Type != "ClusterIP" || len(adminSvc.Spec.Ports) != 1 || adminSvc.Spec.Ports[0].TargetPort != "admin" {
		t.Errorf("the admin Service: %+v; want ClusterIP, one port to admin", adminSvc.Spec)
	}

	// Replicas, disruption budget and autoscaler agree.
	floor := w.replicas
	hpas := find(ms, "HorizontalPodAutoscaler")
	if w.hpaMin > 0 {
		var h hpa
		one(t, ms, "HorizontalPodAutoscaler", &h)
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != depM.Metadata.Name {
			t.Errorf("the autoscaler scales %s %s, not the Deployment", h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name)
		}
		if h.Spec.MinReplicas != w.hpaMin || h.Spec.MaxReplicas != w.hpaMax {
			t.Errorf("autoscaler %d..%d replicas; want %d..%d", h.Spec.MinReplicas, h.Spec.MaxReplicas, w.hpaMin, w.hpaMax)
		}
		if dep.Spec.Replicas != nil {
			t.Errorf("the Deployment sets replicas %d while the autoscaler owns them", *dep.Spec.Replicas)
		}
		floor = h.Spec.MinReplicas
	} else {
		if len(hpas) > 0 {
			t.Error("an autoscaler rendered with autoscaling off")
		}
		if dep.Spec.Replicas == nil || *dep.Spec.Replicas != w.replicas {
			t.Errorf("Deployment replicas %v; want %d", ptr(dep.Spec.Replicas), w.replicas)
		}
	}
	var b pdb
	one(t, ms, "PodDisruptionBudget", &b)
	for k, v := range dep.Spec.Selector.MatchLabels {
		if b.Spec.Selector.MatchLabels[k] != v || len(b.Spec.Selector.MatchLabels) != len(dep.Spec.Selector.MatchLabels) {
			t.Errorf("the disruption budget selects %v; want the Deployment's %v", b.Spec.Selector.MatchLabels, dep.Spec.Selector.MatchLabels)
			break
		}
	}
	switch {
	case b.Spec.MinAvailable != nil && b.Spec.MaxUnavailable != nil:
		t.Error("the disruption budget has both minAvailable and maxUnavailable")
	case b.Spec.MinAvailable != nil:
		if n, ok := asInt(b.Spec.MinAvailable); ok && n >= floor {
			t.Errorf("minAvailable %d with %d replicas: no pod could be evicted", n, floor)
		}
	case b.Spec.MaxUnavailable != nil:
		if n, ok := asInt(b.Spec.MaxUnavailable); ok && (n < 1 || n >= floor && floor > 1) {
			t.Errorf("maxUnavailable %d with %d replicas: none or all of them could be evicted at once", n, floor)
		}
	default:
		t.Error("the disruption budget bounds nothing")
	}

	// Metrics: a ServiceMonitor only when asked, on the admin Service.
	sms := find(ms, "ServiceMonitor")
	if (len(sms) > 0) != w.serviceMonitor {
		t.Errorf("%d ServiceMonitors; want one: %v", len(sms), w.serviceMonitor)
	}
	if len(sms) == 1 {
		var sm serviceMonitor
		decode(t, sms[0].text, &sm)
		if sm.Spec.Selector.MatchLabels["app.kubernetes.io/component"] != "admin" || len(sm.Spec.Endpoints) != 1 ||
			sm.Spec.Endpoints[0].Port != "admin" || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("the ServiceMonitor %+v; want the admin Service's /metrics", sm.Spec)
		}
	}

	// The service account: the identities the SDKs' chains find.
	var sa manifest
	one(t, ms, "ServiceAccount", &sa)
	if sa.Metadata.Name != pod.ServiceAccountName {
		t.Errorf("the pods run as %s, the chart makes %s", pod.ServiceAccountName, sa.Metadata.Name)
	}
	for k, v := range w.annotations {
		if sa.Metadata.Annotations[k] != v {
			t.Errorf("service account annotation %s = %q; want %q", k, sa.Metadata.Annotations[k], v)
		}
	}
}

// checkPaths: each file the configuration reads is mounted in gatehouse's
// container (a file from a Secret under the copier's directory, of a
// Secret the pod mounts), and each directory it writes is an emptyDir.
func checkPaths(t *testing.T, f *config.File, mounts map[string]volumeMount, vols map[string]volume, secrets map[string]bool) {
	t.Helper()
	abs := func(p string) string {
		if path.IsAbs(p) {
			return path.Clean(p)
		}
		return path.Join("/etc/gatehouse", p)
	}
	under := func(p string) (volumeMount, bool) {
		for mp, m := range mounts {
			if p == mp || strings.HasPrefix(p, strings.TrimSuffix(mp, "/")+"/") {
				return m, true
			}
		}
		return volumeMount{}, false
	}
	var reads []string
	for _, r := range f.SecretRefs() {
		if r.Ref.File != "" {
			reads = append(reads, r.Ref.File)
		}
	}
	reads = append(reads, f.Audit.KeyFile, f.Audit.SigningKeyFile)
	reads = append(reads, f.AuthZ.PolicyFiles...)
	if f.Creds.Issuer.SigningKey.AWSKMS == nil && f.Creds.Issuer.SigningKey.AzureKeyVault == nil && f.Creds.Issuer.KeyDir != "" {
		reads = append(reads, path.Join(f.Creds.Issuer.KeyDir, "issuer-signing-keys.json"))
	}
	for _, p := range reads {
		if p == "" {
			continue
		}
		p = abs(p)
		if _, ok := under(p); !ok {
			t.Errorf("the configuration reads %s, which is in no volume of gatehouse's container", p)
		}
		if rest, ok := strings.CutPrefix(p, "/var/run/gatehouse/secrets/"); ok {
			if name, _, _ := strings.Cut(rest, "/"); !secrets[name] {
				t.Errorf("the configuration reads %s, but the pod mounts no Secret %s (secretFiles)", p, name)
			}
		}
	}
	var writes []string
	if f.Creds.Issuer.SigningKey.AWSKMS != nil || f.Creds.Issuer.SigningKey.AzureKeyVault != nil {
		writes = append(writes, f.Creds.Issuer.KeyDir)
	}
	writes = append(writes, f.Audit.SpoolDir)
	for _, p := range writes {
		if p == "" {
			continue
		}
		m, ok := under(abs(p))
		if !ok || m.ReadOnly || vols[m.Name].EmptyDir == nil {
			t.Errorf("gatehouse writes in %s, which is on no writable emptyDir of its container", abs(p))
		}
	}
}

func asInt(v any) (int, bool) {
	switch n := v.(type) {
	case uint64:
		return int(n), true
	case int64:
		return int(n), true
	case int:
		return n, true
	}
	return 0, false
}

func ptr[T any](p *T) any {
	if p == nil {
		return "unset"
	}
	return *p
}

// The value sets rendered. Each is a values file, on top of the chart's
// defaults.
const (
	fixedReplicas = `
replicaCount: 4
autoscaling: {enabled: false}
podDisruptionBudget: {maxUnavailable: null, minAvailable: 2}
serviceMonitor: {enabled: true}
networkPolicy:
  enabled: true
  adminFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
aws: {roleArn: "arn:aws:iam::123456789012:role/gatehouse-pods"}
azure: {workloadIdentity: {clientId: 0d3b5f0e-6f3c-4c8a-9a7e-2f1a4c7d9e10}}
secretFiles:
  - {secret: gatehouse-tls, keys: [tls.key, tls.crt]}
secretFileCopier: {intervalSeconds: 0}
preStopSleepSeconds: 5
extraEnv:
  - {name: AWS_REGION, value: eu-west-1}
  - {name: AWS_WEB_IDENTITY_TOKEN_FILE, value: /var/run/secrets/eks.amazonaws.com/serviceaccount/token}
`
	// Every secret in a vault, the file given as text with a Cedar file
	// beside it, issuer keys from a Secret: no copier for TLS.
	configText = `
secretFiles: [{secret: gatehouse-issuer}]
secretFileCopier: {intervalSeconds: 60}
autoscaling: {minReplicas: 2, maxReplicas: 6}
files:
  extra.cedar: |
    forbid (principal, action, resource) when { context has agent };
config: |
  # gatehouse.yaml, as a file.
  authn:
    issuers:
      - name: partner
        type: oidc
        issuer: https://auth.partner.example
        audiences: [https://api.example.com]
        algorithms: [ES256]
  authz:
    roles:
      - name: reader
        aws_role: arn:aws:iam::123456789012:role/gatehouse-reader
        actions: [invoke]
        functions: [hello]
    rules:
      - {id: readers, effect: allow, roles: [reader], scopes: [read]}
    policy_files: [extra.cedar]
  creds:
    issuer:
      url: https://gatehouse.example.com
      key_dir: /var/run/gatehouse/secrets/gatehouse-issuer
    sts: {region: eu-west-1}
  gateway:
    tls_key:
      azure_key_vault: {vault: https://contoso.vault.azure.net, name: gatehouse-tls}
    routes:
      - {id: hello, path: /hello, function: hello}
  audit:
    sink: jsonl
    key: {azure_key_vault: {vault: https://contoso.vault.azure.net, name: audit-key}, encoding: base64}
    signing_key: {azure_key_vault: {vault: https://contoso.vault.azure.net, name: audit-signing}}
    on_unavailable: fail_closed
`
)

func TestChart(t *testing.T) {
	for _, tt := range []struct {
		name   string
		values []string
		want   want
	}{
		{"defaults", nil, want{hpaMin: 3, hpaMax: 10, copier: true, sync: true}},
		{"fixed replicas, metrics, identities", []string{fixedReplicas}, want{replicas: 4, serviceMonitor: true, copier: true,
			annotations: map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/gatehouse-pods",
				"azure.workload.identity/client-id": "0d3b5f0e-6f3c-4c8a-9a7e-2f1a4c7d9e10"},
			podLabels: map[string]string{"azure.workload.identity/use": "true"}, preStopSleep: 5}},
		{"configuration as text", []string{configText}, want{hpaMin: 2, hpaMax: 6, copier: true, sync: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ms, errOut := render(t, tt.values...)
			if errOut != "" {
				t.Fatalf("helm template failed:\n%s", errOut)
			}
			check(t, ms, tt.want)
		})
	}
}

// TestChartConfigText: configuration given as text reaches the ConfigMap
// as written, comments and all, with the files beside it.
func TestChartConfigText(t *testing.T) {
	t.Parallel()
	ms, errOut := render(t, configText)
	if errOut != "" {
		t.Fatal(errOut)
	}
	var cm configMap
	one(t, ms, "ConfigMap", &cm)
	if !strings.HasPrefix(cm.Data["gatehouse.yaml"], "# gatehouse.yaml, as a file.\n") {
		t.Errorf("gatehouse.yaml lost its text:\n%s", cm.Data["gatehouse.yaml"])
	}
	if !strings.Contains(cm.Data["extra.cedar"], "forbid (principal, action, resource)") {
		t.Errorf("extra.cedar = %q", cm.Data["extra.cedar"])
	}
}

// TestChartChecksum: a changed configuration changes the pods' checksum
// annotation (so they roll); an unchanged one does not.
func TestChartChecksum(t *testing.T) {
	t.Parallel()
	sum := func(values ...string) string {
		ms, errOut := render(t, values...)
		if errOut != "" {
			t.Fatal(errOut)
		}
		var dep deployment
		one(t, ms, "Deployment", &dep)
		return dep.Spec.Template.Metadata.Annotations["checksum/config"]
	}
	base, again := sum(), sum()
	route := "config:\n  gateway:\n    routes:\n      - {id: reports, method: GET, path: \"/reports/{id}\", function: reports-api}\n      - {id: daily, path: /daily, function: reports-daily}\n"
	changed := sum(route)
	file := sum("files: {ca.pem: \"-----BEGIN CERTIFICATE-----\"}\n")
	if base != again {
		t.Errorf("the same values give two checksums: %s, %s", base, again)
	}
	if changed == base || file == base || file == changed {
		t.Errorf("checksums %s (defaults), %s (a route more), %s (a file more): a change must change it", base, changed, file)
	}
}

// TestChartRefuses: what cannot work with replicas, or would put a secret
// in a manifest, fails the render with a message that names it.
func TestChartRefuses(t *testing.T) {
	for _, tt := range []struct {
		name, values, want string
	}{
		{"sqlite trail", "config: {audit: {sink: sqlite}}", "config.audit.sink sqlite"},
		{"default sink", "config: {audit: {sink: null}}", "config.audit.sink sqlite"},
		{"one chain for all", "config: {audit: {replica: gw-1}}", "config.audit.replica"},
		{"issuer key per pod", "config: {creds: {issuer: {signing_key: null}}}", "each pod would make an issuer signing key of its own"},
		{"vault record read-only", "config: {creds: {issuer: {key_dir: keys}}}", "gatehouse records the vault key's versions there"},
		{"secret in env", "extraEnv: [{name: AUDIT_DSN, value: \"postgres://u:p@db/audit\"}]", "extraEnv AUDIT_DSN"},
		{"env from a Secret", "extraEnv: [{name: DB, valueFrom: {secretKeyRef: {name: s, key: k}}}]", "extraEnv DB: from a Secret"},
		{"budget blocks drains", "podDisruptionBudget: {maxUnavailable: null, minAvailable: 3}", "podDisruptionBudget.minAvailable 3 with 3 replicas"},
		{"budget of zero", "podDisruptionBudget: {maxUnavailable: 0}", "podDisruptionBudget.maxUnavailable 0"},
		{"autoscaler below its floor", "autoscaling: {minReplicas: 5, maxReplicas: 4}", "autoscaling.maxReplicas 4"},
		{"misspelt value", "replicaCont: 5", "replicaCont"},
		{"writable root", "securityContext: {readOnlyRootFilesystem: false}", "readOnlyRootFilesystem"},
		{"grace shorter than the drain", "preStopSleepSeconds: 20", "terminationGracePeriodSeconds 45"},
		{"Secret twice", "secretFiles: [{secret: a}, {secret: a}]", "Secret a is listed twice"},
		{"no configuration", "config: \"\"", "config is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ms, errOut := render(t, tt.values)
			if errOut == "" {
				t.Fatalf("rendered %d manifests; want a refusal naming %q", len(ms), tt.want)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("refused with\n%s\nwant it to name %q", errOut, tt.want)
			}
		})
	}
}

// TestSecretFileModes is why the chart copies Secrets rather than handing
// gatehouse the Secret volume: what the kubelet makes of a Secret for a
// non-root pod, gatehouse refuses. Without fsGroup a Secret's file belongs
// to root (unreadable at 0400 by the pod's user); with fsGroup the kubelet
// adds group read to defaultMode (0400 becomes 0440). gatehouse reads only
// files its group and others cannot (internal/privatefile); the copier
// writes 0600 files of the pod's user. If privatefile ever accepts 0440,
// the copier can go.
func TestSecretFileModes(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		mode os.FileMode
		ok   bool
		what string
	}{
		{0o440, false, "a Secret file under fsGroup (defaultMode 0400 | the kubelet's 0440)"},
		{0o444, false, "a Secret file with the default mode 0644, read-only"},
		{0o400, true, "a file of the pod's user, owner-only"},
		{0o600, true, "the copier's file"},
	} {
		p := filepath.Join(dir, fmt.Sprintf("key-%o", tt.mode))
		if err := os.WriteFile(p, []byte("secret"), tt.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, tt.mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := privatefile.Read(p, 1024)
		if (err == nil) != tt.ok {
			t.Errorf("privatefile.Read(%s, mode %04o) = %v; want accepted %v", tt.what, tt.mode, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "accessible to other users") {
			t.Errorf("%s refused for another reason: %v", tt.what, err)
		}
	}
}
