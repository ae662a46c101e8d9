package apitypes

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The validation fuzz targets decode arbitrary JSON into a policy or an
// endpoint and hold Validate to its contract, the one the provider relies on
// at plan time:
//   - it never panics;
//   - a rejection is an *Error with code "invalid" whose field starts with one
//     of the type's own JSON attributes (the provider turns it into an
//     attribute path, so a field the schema does not have would point nowhere);
//   - an accepted value survives the trip through JSON unchanged and is still
//     accepted, so what the provider stores is what the server validated.
// Seeds live in testdata/fuzz/<target>/.

func FuzzValidatePolicy(f *testing.F) {
	fuzzValidate(f, func() validatable { return new(DeploymentPolicy) }, []string{
		`{"name":"p","strategy":"all_at_once"}`,
		`{"name":"p","strategy":"canary","steps":[{"traffic_percent":10,"bake":"1m"},{"traffic_percent":50,"bake":"30s"}],"analysis":{"interval":"250ms","max_error_rate":0.01,"max_latency_p99":"200ms","max_regression":0.2,"min_requests":20},"rollback":{"automatic":true}}`,
		`{"name":"p","strategy":"linear","linear":{"step_percent":25,"interval":"10s"}}`,
		`{"name":"p","strategy":"blue_green","blue_green":{"termination_wait":"5s"},"smoke_test":{"requests":[{"name":"one","expect_outputs":[1.5],"tolerance":0.01,"body":"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}"}]}}`,
		`{"name":"p","strategy":"canary","steps":[{"traffic_percent":101,"bake":"-1s"}]}`,
		`{"name":"p","strategy":"all_at_once","freeze_windows":[{"start":"2026-12-20T00:00:00Z","end":"2026-12-27T00:00:00Z","reason":"holidays"}]}`,
		`{"name":"p","strategy":"all_at_once","shadow":{"duration":"1m","traffic_percent":20}}`,
	})
}

func FuzzValidateEndpoint(f *testing.F) {
	fuzzValidate(f, func() validatable { return new(Endpoint) }, []string{
		`{"name":"e","model_version":"fraud/1"}`,
		`{"name":"e","model_version":"fraud/1","deployment_policy":"p","labels":{"team":"risk"},"replicas":{"min":1,"max":3,"target_concurrency":4},"request_timeout":"2s"}`,
		`{"name":"e","model_version":"fraud/2","traffic_split":[{"model_version":"fraud/1","percent":90},{"model_version":"fraud/2","percent":10}]}`,
		`{"name":"e","model_version":"fraud/1","replicas":{"min":3,"max":1}}`,
		`{"name":"E!","model_version":"no-slash"}`,
	})
}

type validatable interface {
	Validate() error
}

func fuzzValidate(f *testing.F, newValue func() validatable, seeds []string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	top := jsonNames(reflect.TypeOf(newValue()).Elem())
	f.Fuzz(func(t *testing.T, body []byte) {
		v := newValue()
		if json.Unmarshal(body, v) != nil {
			return // decoding errors are the server decoder's business (server fuzz targets)
		}
		normalize(v)
		err := v.Validate()
		if err != nil {
			var apiErr *Error
			if !errors.As(err, &apiErr) || apiErr.Code != CodeInvalid || apiErr.Message == "" {
				t.Fatalf("Validate(%s) = %#v, want an *Error with code %q and a message", body, err, CodeInvalid)
			}
			root := apiErr.Field
			if i := strings.IndexAny(root, ".["); i >= 0 {
				root = root[:i]
			}
			if !top[root] {
				t.Fatalf("Validate(%s) names field %q, which is not an attribute of %T (have %v)", body, apiErr.Field, v, top)
			}
			return
		}
		first, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("a valid value does not marshal: %v", err)
		}
		again := newValue()
		if err := json.Unmarshal(first, again); err != nil {
			t.Fatalf("a valid value does not round-trip: %v\n%s", err, first)
		}
		normalize(again)
		if err := again.Validate(); err != nil {
			t.Fatalf("valid %s became invalid after a JSON round trip %s: %v", body, first, err)
		}
		second, _ := json.Marshal(again)
		if !bytes.Equal(first, second) {
			t.Fatalf("JSON round trip changed a valid value:\n%s\n%s", first, second)
		}
	})
}

func normalize(v validatable) {
	if n, ok := v.(interface{ Normalize() }); ok {
		n.Normalize()
	}
}

// jsonNames are the JSON names of t's fields.
func jsonNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names[name] = true
		}
	}
	return names
}
