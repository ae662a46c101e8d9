package provider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// errNotServed is a change the serving plane did not carry out; the errors
// wrapping it (notServed) say why in words.
var errNotServed = errors.New("the change did not take")

// waitEndpointSettled polls the endpoint until it serves what want asks for
// with every replica it needs ready, or until it is clear that it will not:
// the server put the endpoint back to the version that still serves, the
// endpoint failed, or ctx ran out. It returns the last endpoint read, so the
// caller can record in state what really serves.
func waitEndpointSettled(ctx context.Context, c *client.Client, want *apitypes.Endpoint) (*apitypes.Endpoint, error) {
	target := desiredTraffic(want)
	// Short first waits: a small model is ready in well under a second, and
	// every poll interval is lead time the user waits for.
	wait := 25 * time.Millisecond
	var last *apitypes.Endpoint
	for {
		got, err := c.GetEndpoint(ctx, want.Name)
		if err != nil {
			if ctx.Err() != nil && last != nil {
				return last, timeoutError(want, last)
			}
			return last, err
		}
		last = got
		switch {
		case got.Revision != want.Revision && !sameTraffic(desiredTraffic(got), target):
			if revertedBack(got, target) {
				return got, notServed("Model endpoint %q did not switch to %s: %s.\n\n"+
					"The server put the endpoint back to what still serves, %s (revision %d), and state records that, "+
					"so the next plan proposes the change again. Fix the model version, or revert the configuration to what serves.",
					want.Name, trafficString(target), strings.TrimSuffix(got.Status.Message, "."), trafficString(desiredTraffic(got)), got.Revision)
			}
			return got, notServed("Model endpoint %q was changed by another client while the deployment ran and now asks for %s (revision %d)%s; "+
				"state records that, so the next plan shows the difference from the configuration",
				want.Name, trafficString(desiredTraffic(got)), got.Revision, prefixed(": ", got.Status.Message))
		case got.Status.Phase == apitypes.PhaseFailed:
			return got, notServed("Model endpoint %q failed: %s", want.Name, orElse(got.Status.Message, "no reason given"))
		case got.Status.Phase == apitypes.PhaseReady && sameTraffic(servingTraffic(got), target):
			return got, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return got, timeoutError(want, got)
		case <-t.C:
		}
		wait = min(wait*3/2, 500*time.Millisecond)
	}
}

func timeoutError(want, got *apitypes.Endpoint) error {
	return notServed("Timed out waiting for model endpoint %q to serve %s; it is %s, serving %s%s. Raise the timeouts block's value if the rollout needs longer",
		want.Name, trafficString(desiredTraffic(want)), got.Status.Phase, trafficString(servingTraffic(got)), prefixed("; ", got.Status.Message))
}

// notServed is an errNotServed that reads as its message alone.
func notServed(format string, args ...any) error {
	return notServedError(fmt.Sprintf(format, args...))
}

type notServedError string

func (e notServedError) Error() string { return string(e) }
func (e notServedError) Unwrap() error { return errNotServed }

// revertedBack tells whether the server put the endpoint back because the
// target could not be served, rather than another client changing it: the
// endpoint now asks for exactly what serves, and its status message names a
// version of the target it dropped (the server's reason, "model version
// fraud/2 could not be served: ...").
func revertedBack(got *apitypes.Endpoint, target map[string]int) bool {
	now := desiredTraffic(got)
	if got.Status.Message == "" || !sameTraffic(now, servingTraffic(got)) {
		return false
	}
	for v := range target {
		if _, kept := now[v]; !kept && mentionsVersion(got.Status.Message, v) {
			return true
		}
	}
	return false
}

// mentionsVersion tells whether msg names the version ID v as a whole word
// ("fraud/1" is not in "fraud/10").
func mentionsVersion(msg, v string) bool {
	word := func(b byte) bool {
		return b == '-' || b == '_' || b == '.' || b == '/' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
	}
	for i := 0; ; {
		j := strings.Index(msg[i:], v)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(v)
		// A trailing '.' ends a sentence, not the ID.
		if (start == 0 || !word(msg[start-1])) && (end == len(msg) || !word(msg[end]) || msg[end] == '.' && (end+1 == len(msg) || !word(msg[end+1]))) {
			return true
		}
		i = start + 1
	}
}

// desiredTraffic is the split an endpoint asks for, by version.
func desiredTraffic(e *apitypes.Endpoint) map[string]int {
	if len(e.TrafficSplit) == 0 {
		return map[string]int{e.ModelVersion: 100}
	}
	m := map[string]int{}
	for _, w := range e.TrafficSplit {
		m[w.ModelVersion] = w.Percent
	}
	return m
}

// servingTraffic is the split that serves, counting only versions with a
// ready replica.
func servingTraffic(e *apitypes.Endpoint) map[string]int {
	m := map[string]int{}
	for _, t := range e.Status.Traffic {
		if t.Percent > 0 && t.ReadyReplicas > 0 {
			m[t.ModelVersion] = t.Percent
		}
	}
	return m
}

func sameTraffic(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// trafficString says a split in words, in a stable order: "fraud/1" for
// one version, "fraud/1 at 90%, fraud/2 at 10%" for several.
func trafficString(m map[string]int) string {
	switch len(m) {
	case 0:
		return "nothing"
	case 1:
		for v, p := range m {
			if p == 100 {
				return v
			}
		}
	}
	parts := make([]string, 0, len(m))
	for _, v := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s at %d%%", v, m[v]))
	}
	return strings.Join(parts, ", ")
}

func orElse(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}
