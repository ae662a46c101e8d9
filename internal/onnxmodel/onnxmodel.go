// Package onnxmodel builds small, real ONNX models (opset 13) in Go, so that
// tests, benchmarks and the quick start need no model hub. Each model comes
// with a pure-Go reference implementation of its forward pass, so tests can
// check served outputs against values computed independently of the runtime.
package onnxmodel

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// Opset is the ai.onnx opset the generated models import.
const Opset = 13

const elemFloat = 1 // onnx.TensorProto_FLOAT

// Layer is one dense layer: y = x·W + b, optionally followed by ReLU.
type Layer struct {
	In, Out int
	W       []float32 // In×Out, row-major
	B       []float32 // Out
	ReLU    bool
}

// MLP is a multi-layer perceptron with input "x" [batch, In] and output "y".
type MLP struct {
	Layers []Layer
	// Doc is stored as the model's doc_string: models that compute the same
	// thing but must differ in bytes (and so in digest) differ here.
	Doc string
	// OpsetVersion overrides the imported ai.onnx opset (default Opset), to
	// build models the builtin runtime must refuse.
	OpsetVersion int64
}

// NewMLP builds an MLP with the given layer sizes (e.g. 32, 64, 64, 2) and
// weights drawn from a seeded generator; ReLU between layers, none at the end.
func NewMLP(seed uint64, sizes ...int) *MLP {
	if len(sizes) < 2 {
		panic("onnxmodel: an MLP needs at least an input and an output size")
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	m := &MLP{}
	for i := 0; i+1 < len(sizes); i++ {
		in, out := sizes[i], sizes[i+1]
		l := Layer{In: in, Out: out, W: make([]float32, in*out), B: make([]float32, out), ReLU: i+2 < len(sizes)}
		scale := float32(1 / math.Sqrt(float64(in)))
		for j := range l.W {
			l.W[j] = (r.Float32()*2 - 1) * scale
		}
		for j := range l.B {
			l.B[j] = (r.Float32()*2 - 1) * 0.1
		}
		m.Layers = append(m.Layers, l)
	}
	return m
}

// NewLinear builds y = x·w + b with one output, for hand-checkable tests.
func NewLinear(w []float32, b float32) *MLP {
	return &MLP{Layers: []Layer{{In: len(w), Out: 1, W: append([]float32(nil), w...), B: []float32{b}}}}
}

// Inputs is the input width.
func (m *MLP) Inputs() int { return m.Layers[0].In }

// Outputs is the output width.
func (m *MLP) Outputs() int { return m.Layers[len(m.Layers)-1].Out }

// Forward computes the outputs for a batch of rows, in float64 from the
// float32 weights: the reference the served values are compared with.
func (m *MLP) Forward(x [][]float32) [][]float64 {
	out := make([][]float64, len(x))
	for r, row := range x {
		cur := make([]float64, len(row))
		for i, v := range row {
			cur[i] = float64(v)
		}
		for _, l := range m.Layers {
			next := make([]float64, l.Out)
			for o := 0; o < l.Out; o++ {
				s := float64(l.B[o])
				for i := 0; i < l.In; i++ {
					s += cur[i] * float64(l.W[i*l.Out+o])
				}
				if l.ReLU && s < 0 {
					s = 0
				}
				next[o] = s
			}
			cur = next
		}
		out[r] = cur
	}
	return out
}

// Marshal encodes the model as an ONNX ModelProto.
func (m *MLP) Marshal() ([]byte, error) {
	g := &onnx.GraphProto{Name: "slipway_mlp"}
	prev := "x"
	for i, l := range m.Layers {
		w, b := fmt.Sprintf("W%d", i), fmt.Sprintf("B%d", i)
		g.Initializer = append(g.Initializer,
			&onnx.TensorProto{Name: w, DataType: elemFloat, Dims: []int64{int64(l.In), int64(l.Out)}, FloatData: l.W},
			&onnx.TensorProto{Name: b, DataType: elemFloat, Dims: []int64{int64(l.Out)}, FloatData: l.B},
		)
		out := fmt.Sprintf("h%d", i)
		if i == len(m.Layers)-1 && !l.ReLU {
			out = "y"
		}
		g.Node = append(g.Node, &onnx.NodeProto{Name: fmt.Sprintf("gemm%d", i), OpType: "Gemm", Input: []string{prev, w, b}, Output: []string{out}})
		prev = out
		if l.ReLU {
			act := fmt.Sprintf("a%d", i)
			if i == len(m.Layers)-1 {
				act = "y"
			}
			g.Node = append(g.Node, &onnx.NodeProto{Name: fmt.Sprintf("relu%d", i), OpType: "Relu", Input: []string{prev}, Output: []string{act}})
			prev = act
		}
	}
	g.Input = []*onnx.ValueInfoProto{tensorInfo("x", m.Inputs())}
	g.Output = []*onnx.ValueInfoProto{tensorInfo("y", m.Outputs())}
	opset := m.OpsetVersion
	if opset == 0 {
		opset = Opset
	}
	mp := &onnx.ModelProto{
		IrVersion:    7,
		ProducerName: "slipway-onnxmodel",
		DocString:    m.Doc,
		OpsetImport:  []*onnx.OperatorSetIdProto{{Domain: "", Version: opset}},
		Graph:        g,
	}
	return proto.Marshal(mp)
}

// tensorInfo declares a float tensor [batch, width]; the batch dimension is
// symbolic so any number of rows can be sent.
func tensorInfo(name string, width int) *onnx.ValueInfoProto {
	return &onnx.ValueInfoProto{
		Name: name,
		Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
			ElemType: elemFloat,
			Shape: &onnx.TensorShapeProto{Dim: []*onnx.TensorShapeProto_Dimension{
				{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}},
				{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: int64(width)}},
			}},
		}}},
	}
}
