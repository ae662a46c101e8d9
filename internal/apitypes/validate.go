package apitypes

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Name rules, shared with the provider's plan-time validators.
var (
	// NamePattern matches model names, versions and policy names.
	NamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62})$`)
	// EndpointNamePattern is a DNS label: the endpoint name appears in URLs.
	EndpointNamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// LabelKeyPattern matches label keys.
	LabelKeyPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62})$`)
	// SHA256Pattern matches a lowercase hex SHA-256 digest.
	SHA256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

const (
	NameRule         = "1-63 characters: lowercase letters, digits, '.', '_' and '-', starting with a letter or digit"
	EndpointNameRule = "1-63 characters: lowercase letters, digits and '-', starting and ending with a letter or digit"
	maxLabelValueLen = 63
	maxMetadataLen   = 1024
	maxDescription   = 1024
)

// ParseDuration parses a Go duration ("30s", "1m30s") that must be >= 0.
// field names the value in the error.
func ParseDuration(field, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, Invalid(field, "%q is not a duration; use a number with a unit such as \"30s\", \"5m\" or \"250ms\"", s)
	}
	if d < 0 {
		return 0, Invalid(field, "%q is negative; durations must be zero or more", s)
	}
	return d, nil
}

func oneOf(field, value string, allowed []string) error {
	if !slices.Contains(allowed, value) {
		return Invalid(field, "%q is not allowed; use one of %s", value, strings.Join(allowed, ", "))
	}
	return nil
}

func validLabels(field string, labels map[string]string) error {
	for k, v := range labels {
		if !LabelKeyPattern.MatchString(k) {
			return Invalid(field, "label key %q is not allowed: 1-63 letters, digits, '.', '_', '/' and '-', starting with a letter or digit", k)
		}
		if len(v) > maxLabelValueLen {
			return Invalid(field+"."+k, "label value is %d characters; at most %d are allowed", len(v), maxLabelValueLen)
		}
	}
	return nil
}

func validDescription(field, s string) error {
	if len(s) > maxDescription {
		return Invalid(field, "is %d characters; at most %d are allowed", len(s), maxDescription)
	}
	return nil
}

func validPercent(field string, p int) error {
	if p < 1 || p > 100 {
		return Invalid(field, "%d is out of range; use a whole percentage from 1 to 100", p)
	}
	return nil
}

// SplitModelVersionID splits "model/version".
func SplitModelVersionID(id string) (model, version string, err error) {
	m, v, ok := strings.Cut(id, "/")
	if !ok || !NamePattern.MatchString(m) || !NamePattern.MatchString(v) {
		return "", "", fmt.Errorf("%q is not a model version ID; use \"<model>/<version>\", each part %s", id, NameRule)
	}
	return m, v, nil
}

// ModelVersionID joins a model and a version into an ID.
func ModelVersionID(model, version string) string { return model + "/" + version }

// Validate checks a model version as registered; it does not fetch the artifact.
func (m *ModelVersion) Validate() error {
	if !NamePattern.MatchString(m.Model) {
		return Invalid("model", "%q is not allowed; %s", m.Model, NameRule)
	}
	if !NamePattern.MatchString(m.Version) {
		return Invalid("version", "%q is not allowed; %s", m.Version, NameRule)
	}
	if err := oneOf("format", m.Format, Formats); err != nil {
		return err
	}
	if err := m.Runtime.validate("runtime", m.Format); err != nil {
		return err
	}
	if m.Runtime.Kind != "external" || m.ArtifactURI != "" || m.SHA256 != "" {
		if err := validArtifactURI("artifact_uri", m.ArtifactURI); err != nil {
			return err
		}
		if !SHA256Pattern.MatchString(m.SHA256) {
			return Invalid("sha256", "%q is not a SHA-256 digest; use 64 lowercase hexadecimal characters, as filesha256() returns", m.SHA256)
		}
	}
	if err := validDescription("description", m.Description); err != nil {
		return err
	}
	if err := validLabels("labels", m.Labels); err != nil {
		return err
	}
	for k, v := range m.Metadata {
		if k == "" || len(k) > 128 || len(v) > maxMetadataLen {
			return Invalid("metadata", "entry %q is too long or has an empty key; keys 1-128 and values up to %d characters", k, maxMetadataLen)
		}
	}
	return nil
}

func validArtifactURI(field, s string) error {
	u, err := url.Parse(s)
	if err != nil || s == "" {
		return Invalid(field, "%q is not a URI; use file:///absolute/path or https://host/path", s)
	}
	switch u.Scheme {
	case "file":
		if !strings.HasPrefix(u.Path, "/") {
			return Invalid(field, "%q must name an absolute path (file:///...); abspath() gives one", s)
		}
	case "http", "https":
		if u.Host == "" {
			return Invalid(field, "%q has no host", s)
		}
	default:
		return Invalid(field, "scheme %q is not supported; use file, http or https", u.Scheme)
	}
	return nil
}

func (r *Runtime) validate(field, format string) error {
	if err := oneOf(field+".kind", r.Kind, RuntimeKinds); err != nil {
		return err
	}
	notFor := func(name string, set bool) error {
		if set {
			return Invalid(field+"."+name, "applies only to other runtime kinds, not %q", r.Kind)
		}
		return nil
	}
	switch r.Kind {
	case "builtin":
		if format == "custom" {
			return Invalid(field+".kind", "builtin cannot serve format \"custom\"; use the process or external runtime")
		}
		for name, set := range map[string]bool{"command": len(r.Command) > 0, "env": len(r.Env) > 0, "readiness_path": r.ReadinessPath != "", "url": r.URL != ""} {
			if err := notFor(name, set); err != nil {
				return err
			}
		}
	case "process":
		if len(r.Command) == 0 {
			return Invalid(field+".command", "is required for the process runtime: the argv of an HTTP model server, with \"{port}\" where it takes its port")
		}
		if !slices.ContainsFunc(r.Command, func(a string) bool { return strings.Contains(a, "{port}") }) {
			return Invalid(field+".command", "must contain the placeholder \"{port}\" so each replica listens on its own port")
		}
		if err := notFor("url", r.URL != ""); err != nil {
			return err
		}
	case "external":
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Invalid(field+".url", "%q is not an http(s) URL; the external runtime needs the base URL of a running model server", r.URL)
		}
		if err := notFor("command", len(r.Command) > 0); err != nil {
			return err
		}
		if err := notFor("env", len(r.Env) > 0); err != nil {
			return err
		}
	}
	if r.ReadinessPath != "" && !strings.HasPrefix(r.ReadinessPath, "/") {
		return Invalid(field+".readiness_path", "%q must start with \"/\"", r.ReadinessPath)
	}
	return nil
}

// Normalize fills the server-side defaults.
func (p *DeploymentPolicy) Normalize() {
	if p.RiskTier == "" {
		p.RiskTier = DefaultRiskTier
	}
	if p.Analysis != nil && p.Analysis.Interval == "" {
		p.Analysis.Interval = DefaultAnalysisInterval
	}
	if p.SmokeTest != nil {
		for i := range p.SmokeTest.Requests {
			if p.SmokeTest.Requests[i].ExpectStatus == 0 {
				p.SmokeTest.Requests[i].ExpectStatus = DefaultExpectStatus
			}
		}
	}
}

// Validate checks a deployment policy.
func (p *DeploymentPolicy) Validate() error {
	if !NamePattern.MatchString(p.Name) {
		return Invalid("name", "%q is not allowed; %s", p.Name, NameRule)
	}
	if err := validDescription("description", p.Description); err != nil {
		return err
	}
	if err := oneOf("strategy", p.Strategy, Strategies); err != nil {
		return err
	}
	only := func(field string, set bool, strategy string) error {
		if set && p.Strategy != strategy {
			return Invalid(field, "applies only to strategy %q, not %q", strategy, p.Strategy)
		}
		return nil
	}
	if err := only("steps", len(p.Steps) > 0, "canary"); err != nil {
		return err
	}
	if err := only("linear", p.Linear != nil, "linear"); err != nil {
		return err
	}
	if err := only("blue_green", p.BlueGreen != nil, "blue_green"); err != nil {
		return err
	}
	switch p.Strategy {
	case "canary":
		if len(p.Steps) == 0 {
			return Invalid("steps", "strategy \"canary\" needs at least one step")
		}
		prev := 0
		for i, s := range p.Steps {
			f := fmt.Sprintf("steps[%d]", i)
			if err := validPercent(f+".traffic_percent", s.TrafficPercent); err != nil {
				return err
			}
			if s.TrafficPercent <= prev {
				return Invalid(f+".traffic_percent", "%d is not above the previous step's %d; steps must ascend", s.TrafficPercent, prev)
			}
			prev = s.TrafficPercent
			if _, err := ParseDuration(f+".bake", s.Bake); err != nil {
				return err
			}
		}
	case "linear":
		if p.Linear == nil {
			return Invalid("linear", "strategy \"linear\" needs linear = { step_percent, interval }")
		}
		if err := validPercent("linear.step_percent", p.Linear.StepPercent); err != nil {
			return err
		}
		if _, err := ParseDuration("linear.interval", p.Linear.Interval); err != nil {
			return err
		}
	case "blue_green":
		if p.BlueGreen != nil && p.BlueGreen.TerminationWait != "" {
			if _, err := ParseDuration("blue_green.termination_wait", p.BlueGreen.TerminationWait); err != nil {
				return err
			}
		}
	}
	if s := p.Shadow; s != nil {
		if err := validPercent("shadow.traffic_percent", s.TrafficPercent); err != nil {
			return err
		}
		if _, err := ParseDuration("shadow.duration", s.Duration); err != nil {
			return err
		}
	}
	if st := p.SmokeTest; st != nil {
		if len(st.Requests) == 0 {
			return Invalid("smoke_test.requests", "needs at least one request")
		}
		for i, r := range st.Requests {
			f := fmt.Sprintf("smoke_test.requests[%d]", i)
			if r.Name == "" {
				return Invalid(f+".name", "is required")
			}
			if err := validInferBody(f+".body", r.Body); err != nil {
				return err
			}
			if r.ExpectStatus != 0 && (r.ExpectStatus < 100 || r.ExpectStatus > 599) {
				return Invalid(f+".expect_status", "%d is not an HTTP status; use 100-599", r.ExpectStatus)
			}
			if r.Tolerance < 0 {
				return Invalid(f+".tolerance", "must be zero or more")
			}
		}
	}
	if a := p.Analysis; a != nil {
		if a.Interval != "" {
			d, err := ParseDuration("analysis.interval", a.Interval)
			if err != nil {
				return err
			}
			if d < 100*time.Millisecond {
				return Invalid("analysis.interval", "%q is too short; use at least 100ms", a.Interval)
			}
		}
		if a.MinRequests < 0 {
			return Invalid("analysis.min_requests", "must be zero or more")
		}
		if a.MaxErrorRate != nil && (*a.MaxErrorRate < 0 || *a.MaxErrorRate > 1) {
			return Invalid("analysis.max_error_rate", "%v is out of range; use a fraction from 0 to 1 (0.01 = 1 %%)", *a.MaxErrorRate)
		}
		if a.MaxLatencyP99 != "" {
			if _, err := ParseDuration("analysis.max_latency_p99", a.MaxLatencyP99); err != nil {
				return err
			}
		}
		if a.MaxRegression != nil && *a.MaxRegression < 0 {
			return Invalid("analysis.max_regression", "must be zero or more (0.2 = 20 %% worse than the baseline)")
		}
	}
	if p.RiskTier != "" {
		if err := oneOf("risk_tier", p.RiskTier, RiskTiers); err != nil {
			return err
		}
	}
	if p.LeadTimeObjective != "" {
		if _, err := ParseDuration("lead_time_objective", p.LeadTimeObjective); err != nil {
			return err
		}
	}
	if len(p.FreezeWindows) > MaxFreezeWindows {
		return Invalid("freeze_windows", "has %d windows; at most %d are allowed", len(p.FreezeWindows), MaxFreezeWindows)
	}
	for i, w := range p.FreezeWindows {
		f := fmt.Sprintf("freeze_windows[%d]", i)
		if w.Start.IsZero() {
			return Invalid(f+".start", "is required")
		}
		if w.End.IsZero() {
			return Invalid(f+".end", "is required")
		}
		if !w.Start.Before(w.End) {
			return Invalid(f+".end", "%s is not after start %s", w.End.UTC().Format(time.RFC3339), w.Start.UTC().Format(time.RFC3339))
		}
		if n := utf8.RuneCountInString(w.Reason); n > MaxFreezeReasonLen {
			return Invalid(f+".reason", "is %d characters long; at most %d are allowed", n, MaxFreezeReasonLen)
		}
	}
	return nil
}

// Bounds of a policy's freeze windows.
const (
	MaxFreezeWindows   = 32
	MaxFreezeReasonLen = 256
)

// FrozenAt returns the freeze window covering t, or nil when deployments are
// allowed at t. Windows include their start and exclude their end.
func (p *DeploymentPolicy) FrozenAt(t time.Time) *FreezeWindow {
	if p == nil {
		return nil
	}
	for i := range p.FreezeWindows {
		w := &p.FreezeWindows[i]
		if !t.Before(w.Start) && t.Before(w.End) {
			return w
		}
	}
	return nil
}

// Normalize fills the server-side defaults.
func (e *Endpoint) Normalize() {
	if e.Replicas.Min == 0 && e.Replicas.Max == 0 {
		e.Replicas.Min, e.Replicas.Max = 1, 1
	}
	if e.Replicas.TargetConcurrency == 0 {
		e.Replicas.TargetConcurrency = DefaultTargetConcurrency
	}
	if e.RequestTimeout == "" {
		e.RequestTimeout = DefaultRequestTimeout
	}
}

// Validate checks an endpoint's desired state. Whether the referenced
// versions and policy exist is checked by the server against its store.
func (e *Endpoint) Validate() error {
	if !EndpointNamePattern.MatchString(e.Name) {
		return Invalid("name", "%q is not allowed; %s", e.Name, EndpointNameRule)
	}
	if err := validDescription("description", e.Description); err != nil {
		return err
	}
	if _, _, err := SplitModelVersionID(e.ModelVersion); err != nil {
		return Invalid("model_version", "%s", err)
	}
	if e.DeploymentPolicy != "" && !NamePattern.MatchString(e.DeploymentPolicy) {
		return Invalid("deployment_policy", "%q is not allowed; %s", e.DeploymentPolicy, NameRule)
	}
	r := e.Replicas
	if r.Min < 1 || r.Min > 64 {
		return Invalid("replicas.min", "%d is out of range; use 1 to 64", r.Min)
	}
	if r.Max < r.Min || r.Max > 64 {
		return Invalid("replicas.max", "%d is out of range; use replicas.min (%d) to 64", r.Max, r.Min)
	}
	if r.TargetConcurrency < 1 || r.TargetConcurrency > 1024 {
		return Invalid("replicas.target_concurrency", "%d is out of range; use 1 to 1024", r.TargetConcurrency)
	}
	if len(e.TrafficSplit) > 0 {
		sum, seen, hasTarget := 0, map[string]bool{}, false
		for i, w := range e.TrafficSplit {
			f := fmt.Sprintf("traffic_split[%d]", i)
			if _, _, err := SplitModelVersionID(w.ModelVersion); err != nil {
				return Invalid(f+".model_version", "%s", err)
			}
			if seen[w.ModelVersion] {
				return Invalid(f+".model_version", "%q appears twice; list each version once", w.ModelVersion)
			}
			seen[w.ModelVersion] = true
			hasTarget = hasTarget || w.ModelVersion == e.ModelVersion
			if err := validPercent(f+".percent", w.Percent); err != nil {
				return err
			}
			sum += w.Percent
		}
		if sum != 100 {
			return Invalid("traffic_split", "percentages sum to %d; they must sum to 100", sum)
		}
		if !hasTarget {
			return Invalid("traffic_split", "must include model_version %q", e.ModelVersion)
		}
	}
	if e.RequestTimeout != "" {
		d, err := ParseDuration("request_timeout", e.RequestTimeout)
		if err != nil {
			return err
		}
		if d <= 0 {
			return Invalid("request_timeout", "must be above zero")
		}
	}
	return validLabels("labels", e.Labels)
}

// Validate checks a token request.
func (t *TokenCreate) Validate() error {
	if !NamePattern.MatchString(t.Name) {
		return Invalid("name", "%q is not allowed; %s", t.Name, NameRule)
	}
	return oneOf("role", t.Role, Roles)
}
