package inference_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/inference"
	"github.com/slipwayhq/terraform-provider-slipway/internal/onnxmodel"
)

func writeFile(t testing.TB, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeMLP(t testing.TB, m *onnxmodel.MLP) string {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, b)
}

func writeProto(t testing.TB, mp *onnx.ModelProto) string {
	t.Helper()
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, b)
}

// mlpProto returns the ModelProto of m, for tests that alter it.
func mlpProto(t testing.TB, m *onnxmodel.MLP) *onnx.ModelProto {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	mp := &onnx.ModelProto{}
	if err := proto.Unmarshal(b, mp); err != nil {
		t.Fatal(err)
	}
	return mp
}

func load(t testing.TB, m *onnxmodel.MLP) inference.Model {
	t.Helper()
	model, err := inference.Load(writeMLP(t, m), "onnx")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return model
}

// rows builds a deterministic batch, distinct per seed.
func rows(batch, width, seed int) ([][]float32, []any, []float32) {
	x := make([][]float32, batch)
	var anys []any
	var flat []float32
	for r := range x {
		x[r] = make([]float32, width)
		for i := range x[r] {
			v := float32((r+1)*(i%7-3)+seed%11) / 7
			x[r][i] = v
			anys = append(anys, float64(v))
			flat = append(flat, v)
		}
	}
	return x, anys, flat
}

func checkClose(t *testing.T, got []float64, want [][]float64) {
	t.Helper()
	var flat []float64
	for _, r := range want {
		flat = append(flat, r...)
	}
	if len(got) != len(flat) {
		t.Fatalf("got %d values, want %d", len(got), len(flat))
	}
	for i := range flat {
		if math.Abs(got[i]-flat[i]) > 1e-4 {
			t.Fatalf("value %d: got %v, reference %v", i, got[i], flat[i])
		}
	}
}

func TestInferMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *onnxmodel.MLP
	}{
		{"linear", onnxmodel.NewLinear([]float32{1, 2, 3, 4}, 0.5)},
		{"mlp", onnxmodel.NewMLP(7, 32, 64, 64, 2)},
	} {
		model := load(t, tc.m)
		for _, batch := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/batch%d", tc.name, batch), func(t *testing.T) {
				x, anys, flat := rows(batch, tc.m.Inputs(), batch)
				want := tc.m.Forward(x)

				// The []any path, as a decoded JSON request arrives.
				resp, err := model.Infer(context.Background(), &apitypes.InferRequest{
					ID:     "req-1",
					Inputs: []apitypes.InferTensor{{Name: "x", Datatype: "FP32", Shape: []int64{int64(batch), int64(tc.m.Inputs())}, Data: anys}},
				})
				if err != nil {
					t.Fatalf("Infer: %v", err)
				}
				if resp.ID != "req-1" || len(resp.Outputs) != 1 {
					t.Fatalf("response id %q with %d outputs", resp.ID, len(resp.Outputs))
				}
				out := resp.Outputs[0]
				if out.Name != "y" || out.Datatype != "FP32" || fmt.Sprint(out.Shape) != fmt.Sprint([]int64{int64(batch), int64(tc.m.Outputs())}) {
					t.Fatalf("output %s %s %v", out.Name, out.Datatype, out.Shape)
				}
				got := make([]float64, len(out.Data))
				for i, v := range out.Data {
					got[i] = v.(float64)
				}
				checkClose(t, got, want)

				// The typed path the worker uses.
				outs, err := model.Run(context.Background(), []inference.Tensor{{Name: "x", Datatype: "FP32", Shape: []int64{int64(batch), int64(tc.m.Inputs())}, Data: flat}}, nil)
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				typed := outs[0].Data.([]float32)
				got = got[:0]
				for _, v := range typed {
					got = append(got, float64(v))
				}
				checkClose(t, got, want)
			})
		}
	}
}

func TestLinearByHand(t *testing.T) {
	model := load(t, onnxmodel.NewLinear([]float32{1, 2, 3, 4}, 0.5))
	outs, err := model.Run(context.Background(), []inference.Tensor{{Name: "x", Datatype: "FP32", Shape: []int64{1, 4}, Data: []float32{1, 1, 1, 1}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := outs[0].Data.([]float32); len(got) != 1 || got[0] != 10.5 {
		t.Fatalf("1+2+3+4+0.5 = %v, want [10.5]", got)
	}
}

func TestMetadata(t *testing.T) {
	md := load(t, onnxmodel.NewMLP(1, 32, 64, 2)).Metadata()
	if md.Platform != "onnx" {
		t.Errorf("platform %q", md.Platform)
	}
	want := `[{x FP32 [-1 32]}] [{y FP32 [-1 2]}]`
	if got := fmt.Sprint(md.Inputs, " ", md.Outputs); got != want {
		t.Errorf("metadata %s, want %s", got, want)
	}
}

func TestOpsetOtherThan13IsRefused(t *testing.T) {
	mp := mlpProto(t, onnxmodel.NewMLP(1, 4, 2))
	mp.OpsetImport = []*onnx.OperatorSetIdProto{{Domain: "", Version: 17}}
	path := writeProto(t, mp)

	for name, err := range map[string]error{"Check": inference.Check(path, "onnx"), "Load": loadErr(path)} {
		if err == nil {
			t.Fatalf("%s accepted an opset 17 model", name)
		}
		msg := err.Error()
		if !strings.Contains(msg, "opset 17") || !strings.Contains(msg, "opset 13") || !strings.Contains(msg, "process runtime") {
			t.Errorf("%s: %q should name opset 17, opset 13 and the process runtime", name, msg)
		}
		if !errors.Is(err, inference.ErrUnsupported) {
			t.Errorf("%s: %v is not ErrUnsupported", name, err)
		}
	}

	// The ai.onnx.ml domain's own version is not the ai.onnx opset.
	mp.OpsetImport = []*onnx.OperatorSetIdProto{{Domain: "ai.onnx", Version: 13}, {Domain: "ai.onnx.ml", Version: 3}}
	if err := inference.Check(writeProto(t, mp), "onnx"); err != nil {
		t.Errorf("ai.onnx 13 + ai.onnx.ml 3: %v", err)
	}
}

func loadErr(path string) error {
	_, err := inference.Load(path, "onnx")
	return err
}

func TestCheckRefusesWhatGonnxCannotRun(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*onnx.ModelProto)
		want   []string
		unsupp bool
	}{
		{"unknown op", func(mp *onnx.ModelProto) {
			mp.Graph.Node[0].OpType = "Erf"
		}, []string{"Erf", "process runtime"}, true},
		{"custom domain", func(mp *onnx.ModelProto) {
			mp.Graph.Node[0].Domain = "com.microsoft"
		}, []string{"com.microsoft.Gemm"}, true},
		{"external weights", func(mp *onnx.ModelProto) {
			mp.Graph.Initializer[0].DataLocation = onnx.TensorProto_EXTERNAL
		}, []string{"W0", "external"}, true},
		{"fp16 input", func(mp *onnx.ModelProto) {
			mp.Graph.Input[0].Type.GetTensorType().ElemType = int32(onnx.TensorProto_FLOAT16)
		}, []string{`input "x"`, "FLOAT16"}, true},
		{"unsorted graph", func(mp *onnx.ModelProto) {
			n := mp.Graph.Node
			n[0], n[len(n)-1] = n[len(n)-1], n[0]
		}, []string{"before any node produces it"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mp := mlpProto(t, onnxmodel.NewMLP(1, 4, 3, 2))
			tc.mutate(mp)
			err := inference.Check(writeProto(t, mp), "onnx")
			if err == nil {
				t.Fatal("Check accepted the model")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not mention %q", err, w)
				}
			}
			if errors.Is(err, inference.ErrUnsupported) != tc.unsupp {
				t.Errorf("errors.Is(%v, ErrUnsupported) = %v", err, !tc.unsupp)
			}
		})
	}
}

func TestCheckAndLoadErrors(t *testing.T) {
	good := writeMLP(t, onnxmodel.NewMLP(1, 4, 2))
	if err := inference.Check(good, "onnx"); err != nil {
		t.Fatalf("Check of a good model: %v", err)
	}
	for _, format := range []string{"lightgbm", "xgboost"} {
		// An ONNX file is no tree ensemble: broken, not unsupported.
		err := inference.Check(good, format)
		if err == nil || !strings.Contains(err.Error(), "model.onnx is not a valid "+format+" model") || errors.Is(err, inference.ErrUnsupported) {
			t.Errorf("%s: %v", format, err)
		}
		if _, err := inference.Load(good, format); err == nil {
			t.Errorf("Load accepted format %s", format)
		}
	}
	for _, format := range []string{"custom", "pmml"} {
		err := inference.Check(good, format)
		if err == nil || !strings.Contains(err.Error(), "onnx, lightgbm and xgboost") || !errors.Is(err, inference.ErrUnsupported) {
			t.Errorf("%s: %v", format, err)
		}
	}
	if err := inference.Check(writeFile(t, []byte("not a model at all")), "onnx"); err == nil || !strings.Contains(err.Error(), "not an ONNX model") {
		t.Errorf("garbage: %v", err)
	}
	if _, err := inference.Load(filepath.Join(t.TempDir(), "missing.onnx"), "onnx"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestBadRequestsAreRequestErrors(t *testing.T) {
	model := load(t, onnxmodel.NewMLP(1, 4, 3, 2))
	x := func(mod func(*apitypes.InferTensor)) []apitypes.InferTensor {
		in := apitypes.InferTensor{Name: "x", Datatype: "FP32", Shape: []int64{1, 4}, Data: []any{1.0, 2.0, 3.0, 4.0}}
		mod(&in)
		return []apitypes.InferTensor{in}
	}
	for _, tc := range []struct {
		name string
		req  apitypes.InferRequest
		want []string
	}{
		{"unknown input", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Name = "z" })}, []string{`"z"`, "no such input", `"x" FP32 [-1 4]`}},
		{"missing input", apitypes.InferRequest{}, []string{`"x"`, "missing"}},
		{"duplicate input", apitypes.InferRequest{Inputs: append(x(func(*apitypes.InferTensor) {}), x(func(*apitypes.InferTensor) {})...)}, []string{`"x"`, "twice"}},
		{"wrong datatype", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Datatype = "FP64" })}, []string{`"x"`, "FP64", "expects FP32"}},
		{"unknown datatype", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Datatype = "FLOAT" })}, []string{`"x"`, "FLOAT"}},
		{"wrong rank", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Shape = []int64{4} })}, []string{`"x"`, "1 dimensions", "expects 2", "[-1 4]"}},
		{"wrong fixed dim", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Shape = []int64{2, 2} })}, []string{`"x"`, "dimension 1", "[-1 4]"}},
		{"negative dim", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Shape = []int64{-1, 4} })}, []string{`"x"`, "invalid"}},
		{"length mismatch", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Shape = []int64{2, 4} })}, []string{`"x"`, "4 elements", "holds 8"}},
		{"string element", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Data[2] = "3" })}, []string{`"x"`, "element 2", "string", "FP32"}},
		{"bool element", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Data[1] = true })}, []string{`"x"`, "element 1", "boolean"}},
		{"null element", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Data[0] = nil })}, []string{`"x"`, "element 0", "null"}},
		{"NaN element", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Data[3] = math.NaN() })}, []string{`"x"`, "element 3", "NaN"}},
		{"no data", apitypes.InferRequest{Inputs: x(func(t *apitypes.InferTensor) { t.Data = nil })}, []string{`"x"`, "data is missing"}},
		{"unknown output", apitypes.InferRequest{Inputs: x(func(*apitypes.InferTensor) {}), Outputs: []struct {
			Name       string         `json:"name"`
			Parameters map[string]any `json:"parameters,omitempty"`
		}{{Name: "nope"}}}, []string{`"nope"`, `"y"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := model.Infer(context.Background(), &tc.req)
			var re *inference.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("got %v (%T), want a *RequestError", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not mention %s", err, w)
				}
			}
		})
	}
	// The model still serves after all of that.
	if _, err := model.Infer(context.Background(), &apitypes.InferRequest{Inputs: x(func(*apitypes.InferTensor) {})}); err != nil {
		t.Fatalf("good request after bad ones: %v", err)
	}
}

func TestConcurrentInfer(t *testing.T) {
	m := onnxmodel.NewMLP(3, 32, 64, 64, 2)
	model := load(t, m)
	const goroutines, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				batch := 1 + (g+i)%3
				x, _, flat := rows(batch, 32, g*each+i)
				want := m.Forward(x)
				outs, err := model.Run(context.Background(), []inference.Tensor{{Name: "x", Datatype: "FP32", Shape: []int64{int64(batch), 32}, Data: flat}}, nil)
				if err != nil {
					errs <- err
					return
				}
				got := outs[0].Data.([]float32)
				for r := range want {
					for o := range want[r] {
						if d := math.Abs(float64(got[r*2+o]) - want[r][o]); d > 1e-4 {
							errs <- fmt.Errorf("goroutine %d run %d: row %d output %d off by %v", g, i, r, o, d)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCanceledContext(t *testing.T) {
	model := load(t, onnxmodel.NewMLP(1, 4, 2))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := model.Run(ctx, []inference.Tensor{{Name: "x", Datatype: "FP32", Shape: []int64{1, 4}, Data: make([]float32, 4)}}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// convModel is y = Conv(x, W, B) with two output channels and a bias:
// gonnx's Conv reshapes the bias tensor in place ([2] to [1,2,1,1]), so a
// second gonnx.Model.Run fails and concurrent ones race. The runtime must
// give each run its own header.
func convModel() *onnx.ModelProto {
	dims := func(name string, d ...int64) *onnx.ValueInfoProto {
		var ds []*onnx.TensorShapeProto_Dimension
		for _, v := range d {
			ds = append(ds, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: v}})
		}
		return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
			ElemType: int32(onnx.TensorProto_FLOAT), Shape: &onnx.TensorShapeProto{Dim: ds},
		}}}}
	}
	return &onnx.ModelProto{
		IrVersion:   7,
		OpsetImport: []*onnx.OperatorSetIdProto{{Version: 13}},
		Graph: &onnx.GraphProto{
			Name: "conv",
			Initializer: []*onnx.TensorProto{
				{Name: "W", DataType: int32(onnx.TensorProto_FLOAT), Dims: []int64{2, 1, 2, 2}, FloatData: []float32{1, 0, 0, -1, 0, 1, 1, 0}},
				{Name: "B", DataType: int32(onnx.TensorProto_FLOAT), Dims: []int64{2}, FloatData: []float32{0.5, -1}},
			},
			Node: []*onnx.NodeProto{{Name: "conv0", OpType: "Conv", Input: []string{"x", "W", "B"}, Output: []string{"y"},
				Attribute: []*onnx.AttributeProto{{Name: "kernel_shape", Type: onnx.AttributeProto_INTS, Ints: []int64{2, 2}}}}},
			Input:  []*onnx.ValueInfoProto{dims("x", 1, 1, 3, 3)},
			Output: []*onnx.ValueInfoProto{dims("y", 1, 2, 2, 2)},
		},
	}
}

func TestConvWithBiasRunsRepeatedlyAndConcurrently(t *testing.T) {
	model, err := inference.Load(writeProto(t, convModel()), "onnx")
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	// Channel 0: x[i][j] - x[i+1][j+1] + 0.5 = -3.5 everywhere.
	// Channel 1: x[i][j+1] + x[i+1][j] - 1.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				outs, err := model.Run(context.Background(), []inference.Tensor{{Name: "x", Datatype: "FP32", Shape: []int64{1, 1, 3, 3}, Data: x}}, nil)
				if err != nil {
					t.Errorf("goroutine %d run %d: %v", g, i, err)
					return
				}
				if got := fmt.Sprint(outs[0].Data); got != "[-3.5 -3.5 -3.5 -3.5 5 7 11 13]" {
					t.Errorf("goroutine %d run %d: %s", g, i, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkInferMLP(b *testing.B) {
	m := onnxmodel.NewMLP(7, 32, 64, 64, 2)
	model := load(b, m)
	_, anys, _ := rows(1, 32, 1)
	req := &apitypes.InferRequest{Inputs: []apitypes.InferTensor{{Name: "x", Datatype: "FP32", Shape: []int64{1, 32}, Data: anys}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := model.Infer(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRunMLP(b *testing.B) {
	m := onnxmodel.NewMLP(7, 32, 64, 64, 2)
	model := load(b, m)
	_, _, flat := rows(1, 32, 1)
	in := []inference.Tensor{{Name: "x", Datatype: "FP32", Shape: []int64{1, 32}, Data: flat}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := model.Run(context.Background(), in, nil); err != nil {
			b.Fatal(err)
		}
	}
}
