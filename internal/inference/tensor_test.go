package inference_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/inference"
)

func TestParseTensorData(t *testing.T) {
	for _, tc := range []struct {
		datatype, raw string
		want          string // fmt of the typed slice
	}{
		{"FP32", `[1, 2.5, -3e2, 0]`, "[]float32{1, 2.5, -300, 0}"},
		{"FP32", " [ [1,2] , [3 ,4] ]\n", "[]float32{1, 2, 3, 4}"},
		{"FP32", `[[[1]],[[2]]]`, "[]float32{1, 2}"},
		{"FP32", `[]`, "[]float32{}"},
		{"FP32", `[1e-50]`, "[]float32{0}"}, // underflow is zero, not an error
		{"FP64", `[0.1, 1E+2]`, "[]float64{0.1, 100}"},
		{"INT64", `[-9223372036854775808, 9223372036854775807]`, "[]int64{-9223372036854775808, 9223372036854775807}"},
		{"INT8", `[-128, 127]`, "[]int8{-128, 127}"},
		{"UINT8", `[0, 255]`, "[]byte{0x0, 0xff}"},
		{"UINT64", `[18446744073709551615]`, "[]uint64{0xffffffffffffffff}"},
		{"BOOL", `[true, false]`, "[]bool{true, false}"},
	} {
		got, err := inference.ParseTensorData("x", tc.datatype, []byte(tc.raw), 4)
		if err != nil {
			t.Errorf("%s %s: %v", tc.datatype, tc.raw, err)
			continue
		}
		if s := fmt.Sprintf("%#v", got); s != tc.want {
			t.Errorf("%s %s: got %s, want %s", tc.datatype, tc.raw, s, tc.want)
		}
	}
}

func TestParseTensorDataErrors(t *testing.T) {
	for _, tc := range []struct {
		datatype, raw string
		want          []string
	}{
		{"FP32", `[1, "2"]`, []string{"element 1", `("2")`, "is a string", "FP32 holds finite numbers"}},
		{"FP32", `[1, "a,]b"]`, []string{"element 1", "string"}}, // brackets inside strings are not structure
		{"FP32", `[true]`, []string{"element 0", "boolean"}},
		{"FP32", `[null]`, []string{"null"}},
		{"FP32", `[NaN]`, []string{"NaN", "JSON cannot carry"}},
		{"FP32", `[-Infinity]`, []string{"infinite"}},
		{"FP32", `[0x10]`, []string{"not a JSON number"}},
		{"FP32", `[1_0]`, []string{"not a JSON number"}},
		{"FP32", `[01]`, []string{"not a JSON number"}},
		{"FP32", `[1e39]`, []string{"out of range"}},
		{"FP32", `{"a":1}`, []string{"must be a JSON array"}},
		{"FP32", `null`, []string{"must be a JSON array"}},
		{"FP32", ``, []string{"missing"}},
		{"FP32", `[1,2`, []string{"before its array is closed"}},
		{"FP32", `[1,,2]`, []string{"','"}},
		{"FP32", `[1,]`, []string{"']'"}},
		{"FP32", `[1 2]`, []string{"',' or ']'"}},
		{"FP32", `[1] x`, []string{"trailing"}},
		{"FP32", strings.Repeat("[", 100) + strings.Repeat("]", 100), []string{"deeply"}},
		{"INT32", `[1.5]`, []string{"not an integer", "INT32 holds integers"}},
		{"INT8", `[128]`, []string{"out of range"}},
		{"UINT16", `[-1]`, []string{"negative"}},
		{"BOOL", `[1]`, []string{"not a boolean", "true or false"}},
		{"FLOAT", `[1]`, []string{`"FLOAT"`, "not an Open Inference Protocol datatype"}},
		{"BYTES", `["a"]`, []string{"BYTES", "not supported"}},
	} {
		_, err := inference.ParseTensorData("x", tc.datatype, []byte(tc.raw), 1)
		var re *inference.RequestError
		if !errors.As(err, &re) || re.Input != "x" {
			t.Errorf("%s %s: got %v, want a *RequestError for input x", tc.datatype, tc.raw, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %s: %q does not mention %s", tc.datatype, tc.raw, err, w)
			}
		}
	}
}

// A shape may promise far more than the body holds; the pre-allocation
// must not trust it.
func TestParseTensorDataIgnoresAbsurdHints(t *testing.T) {
	got, err := inference.ParseTensorData("x", "FP64", []byte(`[1]`), math.MaxInt32)
	if err != nil || cap(got.([]float64)) > 8 {
		t.Fatalf("got cap %d, %v", cap(got.([]float64)), err)
	}
}

// The hand-written encoder must produce what encoding/json would.
func TestAppendTensorDataMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	f32 := []float32{0, 1, -1, 0.1, 1e-7, 1e-6, 123456789, 1e21, 3.4e38, -1.5e-30, float32(math.Copysign(0, -1))}
	f64 := []float64{0, 0.1, 1e-7, 1e21, 1e300, -2.5e-300, 123456.789}
	for range 200 {
		f32 = append(f32, float32(r.NormFloat64()*math.Pow(10, float64(r.IntN(60)-30))))
		f64 = append(f64, r.NormFloat64()*math.Pow(10, float64(r.IntN(600)-300)))
	}
	for _, data := range []any{f32, f64, []int8{-128, 0, 127}, []int64{math.MinInt64, math.MaxInt64}, []uint8{0, 255}, []uint64{math.MaxUint64}, []bool{true, false}, []float32{}} {
		got, err := inference.AppendTensorData(nil, "y", data)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(data)
		if _, isBytes := data.([]uint8); isBytes {
			want = []byte("[0,255]") // encoding/json would base64 a []byte
		}
		if "["+string(got)+"]" != string(want) {
			t.Errorf("%T:\n got [%s]\nwant %s", data, got, want)
		}
	}
}

func TestNonFiniteOutputsAreErrors(t *testing.T) {
	for _, data := range []any{[]float32{1, float32(math.NaN())}, []float64{1, math.Inf(-1)}} {
		if _, err := inference.AppendTensorData(nil, "y", data); err == nil || !strings.Contains(err.Error(), `output "y": element 1`) {
			t.Errorf("AppendTensorData(%v): %v", data, err)
		}
		if _, err := (inference.Tensor{Name: "y", Datatype: "FP32", Shape: []int64{2}, Data: data}).ToInfer(); err == nil {
			t.Errorf("ToInfer(%v) accepted a non-finite value", data)
		}
	}
}

func TestTensorFromInferConversions(t *testing.T) {
	for _, tc := range []struct {
		datatype string
		data     []any
		want     string
		err      string
	}{
		{"FP32", []any{1.5, []any{2.0, json.Number("3")}}, "[]float32{1.5, 2, 3}", ""},
		{"FP32", []any{1e39}, "", "out of range"},
		{"INT64", []any{float64(1 << 53), int64(math.MaxInt64), -4}, "[]int64{9007199254740992, 9223372036854775807, -4}", ""},
		{"INT64", []any{1.5}, "", "not an integer"},
		{"INT16", []any{40000.0}, "", "out of range"},
		{"UINT32", []any{-1.0}, "", "negative"},
		{"UINT64", []any{float64(1 << 63)}, "[]uint64{0x8000000000000000}", ""},
		{"BOOL", []any{true, false}, "[]bool{true, false}", ""},
		{"BOOL", []any{1.0}, "", "not a boolean"},
	} {
		got, err := inference.TensorFromInfer(apitypes.InferTensor{Name: "x", Datatype: tc.datatype, Data: tc.data})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %v: got %v, want error with %q", tc.datatype, tc.data, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %v: %v", tc.datatype, tc.data, err)
		} else if s := fmt.Sprintf("%#v", got.Data); s != tc.want {
			t.Errorf("%s %v: got %s, want %s", tc.datatype, tc.data, s, tc.want)
		}
	}
}

func TestElements(t *testing.T) {
	for _, tc := range []struct {
		shape []int64
		n     int
		ok    bool
	}{
		{nil, 1, true}, {[]int64{2, 3}, 6, true}, {[]int64{0, 5}, 0, true},
		{[]int64{-1, 2}, 0, false}, {[]int64{1 << 20, 1 << 20}, 0, false},
	} {
		if n, ok := inference.Elements(tc.shape); n != tc.n || ok != tc.ok {
			t.Errorf("Elements(%v) = %d, %v", tc.shape, n, ok)
		}
	}
}

func BenchmarkParseTensorDataFP32(b *testing.B) {
	raw, _ := json.Marshal([]float32{0.1, -0.2, 0.3, 1.5, 2, -7.25, 3.125, 0.001, 0.1, -0.2, 0.3, 1.5, 2, -7.25, 3.125, 0.001, 0.1, -0.2, 0.3, 1.5, 2, -7.25, 3.125, 0.001, 0.1, -0.2, 0.3, 1.5, 2, -7.25, 3.125, 0.001})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := inference.ParseTensorData("x", "FP32", raw, 32); err != nil {
			b.Fatal(err)
		}
	}
}
