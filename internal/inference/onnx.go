package inference

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/advancedclimatesystems/gonnx/ops/opset13"
	"google.golang.org/protobuf/proto"
	"gorgonia.org/tensor"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// SupportedOpset is the only ai.onnx opset gonnx implements.
const SupportedOpset = 13

const (
	domainONNX   = "ai.onnx" // also spelled ""
	domainONNXML = "ai.onnx.ml"
)

// mlOps are the ai.onnx.ml operators gonnx implements (in its opset13
// table, but they belong to the ml domain).
var mlOps = map[string]bool{"LinearRegressor": true, "Scaler": true}

// onnxModel runs an ONNX graph with gonnx's opset 13 operators. It drives the
// operators itself rather than through gonnx.Model.Run so that each run gets
// private headers for the shared weights: some gonnx operators reshape an
// input tensor in place (Conv reshapes its bias), which would race between
// concurrent runs and corrupt the weight for the next one.
type onnxModel struct {
	meta    apitypes.ModelMetadata
	inputs  []ioSpec
	outputs []ioSpec
	params  map[string]tensor.Tensor // read-only after load
	nodes   []*onnx.NodeProto
	// own marks names whose tensors a run must copy before returning them:
	// graph inputs and weights that are also graph outputs.
	own map[string]bool
}

type ioSpec struct {
	name     string
	datatype string
	dims     []int64 // -1 = dynamic; nil when the model declares no shape
}

// parsedONNX is what Check establishes and Load builds on.
type parsedONNX struct {
	mp      *onnx.ModelProto
	inputs  []ioSpec
	outputs []ioSpec
}

func readONNX(path string) (*parsedONNX, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	mp := &onnx.ModelProto{}
	if err := proto.Unmarshal(b, mp); err != nil {
		return nil, fmt.Errorf("%s is not an ONNX model: %w", filepath.Base(path), err)
	}
	if mp.GetGraph() == nil {
		return nil, fmt.Errorf("%s is not an ONNX model: it has no graph", filepath.Base(path))
	}
	if err := checkOpset(mp); err != nil {
		return nil, err
	}
	return checkGraph(mp)
}

// checkOpset refuses any ai.onnx opset but 13: an operator's semantics
// change between opsets, so running a newer model on opset 13 kernels could
// silently compute something else.
func checkOpset(mp *onnx.ModelProto) error {
	found := false
	for _, imp := range mp.GetOpsetImport() {
		switch imp.GetDomain() {
		case "", domainONNX:
			if v := imp.GetVersion(); v != SupportedOpset {
				return unsupported("model imports ai.onnx opset %d; the builtin runtime supports opset %d only — use the process runtime with a model server that supports it", v, SupportedOpset)
			}
			found = true
		}
	}
	if found {
		return nil
	}
	for _, n := range mp.GetGraph().GetNode() {
		if d := n.GetDomain(); d == "" || d == domainONNX {
			return fmt.Errorf("model uses ai.onnx operators but imports no ai.onnx opset; the builtin runtime needs opset %d", SupportedOpset)
		}
	}
	return nil
}

func checkGraph(mp *onnx.ModelProto) (*parsedONNX, error) {
	g := mp.GetGraph()
	if len(g.GetSparseInitializer()) > 0 {
		return nil, unsupported("model has sparse initializers, which the builtin runtime does not support")
	}
	known := make(map[string]bool, len(g.GetInitializer())+len(g.GetInput())+len(g.GetNode()))
	for _, t := range g.GetInitializer() {
		if t.GetDataLocation() == onnx.TensorProto_EXTERNAL || len(t.GetExternalData()) > 0 {
			return nil, unsupported("initializer %q keeps its data in an external file, which the builtin runtime does not read; save the model with the weights inside", t.GetName())
		}
		if _, ok := datatypeOf(t.GetDataType()); !ok {
			return nil, unsupported("initializer %q has element type %s, which the builtin runtime does not support", t.GetName(), elemName(t.GetDataType()))
		}
		known[t.GetName()] = true
	}

	p := &parsedONNX{mp: mp}
	for _, vi := range g.GetInput() {
		if known[vi.GetName()] {
			continue // an initializer listed as an input (IR < 4): not for callers
		}
		spec, err := ioSpecOf("input", vi)
		if err != nil {
			return nil, err
		}
		p.inputs = append(p.inputs, spec)
		known[vi.GetName()] = true
	}
	if len(p.inputs) == 0 {
		return nil, fmt.Errorf("model has no inputs")
	}

	var missing []string
	for _, n := range g.GetNode() {
		if !opImplemented(n) {
			label := n.GetOpType()
			if d := n.GetDomain(); d != "" && d != domainONNX {
				label = d + "." + label
			}
			if !slices.Contains(missing, label) {
				missing = append(missing, label)
			}
		}
		for _, in := range n.GetInput() {
			if in != "" && !known[in] {
				return nil, fmt.Errorf("node %q (%s) reads %q before any node produces it; the graph is not valid or not topologically sorted", n.GetName(), n.GetOpType(), in)
			}
		}
		for _, out := range n.GetOutput() {
			known[out] = true
		}
	}
	if len(missing) > 0 {
		return nil, unsupported("the builtin runtime (gonnx, ai.onnx opset %d) does not implement operator(s) %s — use the process runtime with a model server that supports them", SupportedOpset, strings.Join(missing, ", "))
	}

	if len(g.GetOutput()) == 0 {
		return nil, fmt.Errorf("model has no outputs")
	}
	for _, vi := range g.GetOutput() {
		if !known[vi.GetName()] {
			return nil, fmt.Errorf("output %q is produced by no node", vi.GetName())
		}
		spec, err := ioSpecOf("output", vi)
		if err != nil {
			return nil, err
		}
		p.outputs = append(p.outputs, spec)
	}
	return p, nil
}

func opImplemented(n *onnx.NodeProto) bool {
	switch n.GetDomain() {
	case "", domainONNX:
		if mlOps[n.GetOpType()] {
			return false
		}
	case domainONNXML:
		if !mlOps[n.GetOpType()] {
			return false
		}
	default:
		return false
	}
	_, err := opset13.GetOperator(n.GetOpType())
	return err == nil
}

func ioSpecOf(kind string, vi *onnx.ValueInfoProto) (ioSpec, error) {
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return ioSpec{}, unsupported("%s %q is not a tensor; the builtin runtime serves tensor inputs and outputs only", kind, vi.GetName())
	}
	dt, ok := datatypeOf(tt.GetElemType())
	if !ok {
		return ioSpec{}, unsupported("%s %q has element type %s, which the builtin runtime does not support", kind, vi.GetName(), elemName(tt.GetElemType()))
	}
	spec := ioSpec{name: vi.GetName(), datatype: dt}
	if sh := tt.GetShape(); sh != nil {
		spec.dims = make([]int64, len(sh.GetDim()))
		for i, d := range sh.GetDim() {
			// A symbolic or absent dimension is dynamic; so is 0, as gonnx
			// treats it.
			spec.dims[i] = -1
			if v := d.GetDimValue(); v > 0 {
				spec.dims[i] = v
			}
		}
	}
	return spec, nil
}

var elemDatatypes = map[int32]string{
	int32(onnx.TensorProto_FLOAT):  apitypes.DatatypeFP32,
	int32(onnx.TensorProto_DOUBLE): apitypes.DatatypeFP64,
	int32(onnx.TensorProto_INT8):   apitypes.DatatypeInt8,
	int32(onnx.TensorProto_INT16):  apitypes.DatatypeInt16,
	int32(onnx.TensorProto_INT32):  apitypes.DatatypeInt32,
	int32(onnx.TensorProto_INT64):  apitypes.DatatypeInt64,
	int32(onnx.TensorProto_UINT8):  apitypes.DatatypeUint8,
	int32(onnx.TensorProto_UINT16): apitypes.DatatypeUint16,
	int32(onnx.TensorProto_UINT32): apitypes.DatatypeUint32,
	int32(onnx.TensorProto_UINT64): apitypes.DatatypeUint64,
	int32(onnx.TensorProto_BOOL):   apitypes.DatatypeBool,
}

func datatypeOf(elem int32) (string, bool) {
	dt, ok := elemDatatypes[elem]
	return dt, ok
}

func elemName(elem int32) string {
	if s, ok := onnx.TensorProto_DataType_name[elem]; ok {
		return s
	}
	return fmt.Sprintf("%d", elem)
}

func loadONNX(path string) (Model, error) {
	p, err := readONNX(path)
	if err != nil {
		return nil, err
	}
	params, err := p.mp.GetGraph().Params()
	if err != nil {
		return nil, fmt.Errorf("read model weights: %w", err)
	}
	m := &onnxModel{
		inputs:  p.inputs,
		outputs: p.outputs,
		params:  params,
		nodes:   p.mp.GetGraph().GetNode(),
		own:     make(map[string]bool),
	}
	for _, in := range p.inputs {
		m.own[in.name] = true
	}
	for name := range params {
		m.own[name] = true
	}
	m.meta = apitypes.ModelMetadata{
		// The file's base name; the worker answers with the configured name.
		Name:     strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)),
		Platform: FormatONNX,
	}
	return m, nil
}

func metadataTensors(specs []ioSpec) []apitypes.MetadataTensor {
	out := make([]apitypes.MetadataTensor, len(specs))
	for i, s := range specs {
		shape := s.dims
		if shape == nil {
			shape = []int64{-1} // rank unknown: OIP has no notation for it; -1 at least says "dynamic"
		}
		out[i] = apitypes.MetadataTensor{Name: s.name, Datatype: s.datatype, Shape: slices.Clone(shape)}
	}
	return out
}

func (m *onnxModel) Metadata() apitypes.ModelMetadata {
	md := m.meta
	md.Inputs = metadataTensors(m.inputs) // fresh slices each time: callers may modify them
	md.Outputs = metadataTensors(m.outputs)
	return md
}

func (m *onnxModel) Infer(ctx context.Context, req *apitypes.InferRequest) (*apitypes.InferResponse, error) {
	return infer(ctx, m, m.meta.Name, req)
}

func (m *onnxModel) Run(ctx context.Context, inputs []Tensor, outputs []string) (out []Tensor, err error) {
	feeds, err := m.feeds(inputs)
	if err != nil {
		return nil, err
	}
	wanted, err := m.wanted(outputs)
	if err != nil {
		return nil, err
	}
	// gorgonia panics on some shape mismatches; one request must not take
	// the worker down.
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("model execution panicked: %v", r)
		}
	}()
	values := make(map[string]tensor.Tensor, len(m.params)+len(feeds)+len(m.nodes))
	for name, p := range m.params {
		values[name] = privateHeader(p)
	}
	for i, t := range feeds {
		values[m.inputs[i].name] = t
	}
	for _, n := range m.nodes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := runNode(n, values); err != nil {
			return nil, err
		}
	}
	out = make([]Tensor, len(wanted))
	for i, spec := range wanted {
		if out[i], err = m.output(spec, values[spec.name]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func runNode(n *onnx.NodeProto, values map[string]tensor.Tensor) error {
	op, err := opset13.GetOperator(n.GetOpType())
	if err != nil {
		return nodeError(n, err)
	}
	if err := op.Init(n); err != nil {
		return nodeError(n, err)
	}
	ins := make([]tensor.Tensor, len(n.GetInput()))
	for i, name := range n.GetInput() {
		if name == "" {
			continue // an omitted optional input
		}
		t, ok := values[name]
		if !ok {
			return nodeError(n, fmt.Errorf("input %q has no value", name))
		}
		ins[i] = t
	}
	if ins, err = op.ValidateInputs(ins); err != nil {
		return nodeError(n, err)
	}
	outs, err := op.Apply(ins)
	if err != nil {
		return nodeError(n, err)
	}
	if len(outs) < len(n.GetOutput()) {
		return nodeError(n, fmt.Errorf("produced %d outputs, the graph expects %d", len(outs), len(n.GetOutput())))
	}
	for i, name := range n.GetOutput() {
		if name != "" {
			values[name] = outs[i]
		}
	}
	return nil
}

func nodeError(n *onnx.NodeProto, err error) error {
	return fmt.Errorf("model execution failed at node %q (%s): %w", n.GetName(), n.GetOpType(), err)
}

// privateHeader gives a run its own shape and strides over a weight's data,
// so in-place reshapes stay private. Integer weights (shapes, indices) are
// small and some operators rewrite them in place (Gather makes negative
// indices positive), so those are copied outright.
func privateHeader(t tensor.Tensor) tensor.Tensor {
	d, ok := t.(*tensor.Dense)
	if !ok {
		return t
	}
	switch d.Dtype() {
	case tensor.Float32, tensor.Float64:
		return d.ShallowClone()
	}
	return d.Clone().(*tensor.Dense)
}

// feeds validates the request's tensors against the model's inputs and
// returns them in model order.
func (m *onnxModel) feeds(inputs []Tensor) ([]tensor.Tensor, error) {
	feeds := make([]tensor.Tensor, len(m.inputs))
	for _, in := range inputs {
		i := m.inputIndex(in.Name)
		if i < 0 {
			return nil, badInput(in.Name, "the model has no such input; its inputs are %s", m.inputList())
		}
		if feeds[i] != nil {
			return nil, badInput(in.Name, "is given twice")
		}
		t, err := m.inputs[i].tensor(in)
		if err != nil {
			return nil, err
		}
		feeds[i] = t
	}
	for i, f := range feeds {
		if f == nil {
			return nil, badInput(m.inputs[i].name, "is missing; the model needs %s", m.inputList())
		}
	}
	return feeds, nil
}

func (m *onnxModel) inputIndex(name string) int {
	for i, s := range m.inputs { // models have few inputs: a scan beats a map
		if s.name == name {
			return i
		}
	}
	return -1
}

func (m *onnxModel) inputList() string {
	parts := make([]string, len(m.inputs))
	for i, s := range m.inputs {
		parts[i] = s.describe()
	}
	return strings.Join(parts, ", ")
}

func (s ioSpec) describe() string {
	if s.dims == nil {
		return fmt.Sprintf("%q %s", s.name, s.datatype)
	}
	return fmt.Sprintf("%q %s %v", s.name, s.datatype, s.dims)
}

// tensor checks a request tensor against the spec and wraps its data.
func (s ioSpec) tensor(in Tensor) (tensor.Tensor, error) {
	if in.Datatype != s.datatype {
		if in.Datatype == "" {
			return nil, badInput(s.name, "datatype is missing; the model expects %s", s.datatype)
		}
		return nil, badInput(s.name, "datatype is %s; the model expects %s", in.Datatype, s.datatype)
	}
	if s.dims != nil {
		if len(in.Shape) != len(s.dims) {
			return nil, badInput(s.name, "shape %v has %d dimensions; the model expects %d, shaped %v (-1: any size)", in.Shape, len(in.Shape), len(s.dims), s.dims)
		}
		for i, d := range s.dims {
			if d >= 0 && in.Shape[i] != d {
				return nil, badInput(s.name, "shape %v has %d at dimension %d; the model expects %v (-1: any size)", in.Shape, in.Shape[i], i, s.dims)
			}
		}
	}
	if !dataMatches(in.Datatype, in.Data) {
		return nil, badInput(s.name, "data of Go type %T does not match datatype %s", in.Data, in.Datatype)
	}
	n, ok := Elements(in.Shape)
	if !ok {
		return nil, badInput(s.name, "shape %v is invalid: dimensions must be non-negative and hold under 2³¹ elements", in.Shape)
	}
	if n == 0 {
		return nil, badInput(s.name, "shape %v holds no elements; the builtin runtime needs at least one", in.Shape)
	}
	if got := dataLen(in.Data); got != n {
		return nil, badInput(s.name, "data has %d elements but shape %v holds %d", got, in.Shape, n)
	}
	if len(in.Shape) == 0 {
		return tensor.New(tensor.FromScalar(scalarOf(in.Data))), nil
	}
	shape := make([]int, len(in.Shape))
	for i, d := range in.Shape {
		shape[i] = int(d)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(in.Data)), nil
}

func dataMatches(datatype string, data any) bool {
	var ok bool
	switch datatype {
	case apitypes.DatatypeFP32:
		_, ok = data.([]float32)
	case apitypes.DatatypeFP64:
		_, ok = data.([]float64)
	case apitypes.DatatypeInt8:
		_, ok = data.([]int8)
	case apitypes.DatatypeInt16:
		_, ok = data.([]int16)
	case apitypes.DatatypeInt32:
		_, ok = data.([]int32)
	case apitypes.DatatypeInt64:
		_, ok = data.([]int64)
	case apitypes.DatatypeUint8:
		_, ok = data.([]uint8)
	case apitypes.DatatypeUint16:
		_, ok = data.([]uint16)
	case apitypes.DatatypeUint32:
		_, ok = data.([]uint32)
	case apitypes.DatatypeUint64:
		_, ok = data.([]uint64)
	case apitypes.DatatypeBool:
		_, ok = data.([]bool)
	}
	return ok
}

func scalarOf(data any) any {
	switch d := data.(type) {
	case []float32:
		return d[0]
	case []float64:
		return d[0]
	case []int8:
		return d[0]
	case []int16:
		return d[0]
	case []int32:
		return d[0]
	case []int64:
		return d[0]
	case []uint8:
		return d[0]
	case []uint16:
		return d[0]
	case []uint32:
		return d[0]
	case []uint64:
		return d[0]
	case []bool:
		return d[0]
	}
	return nil
}

func (m *onnxModel) wanted(names []string) ([]ioSpec, error) {
	if len(names) == 0 {
		return m.outputs, nil
	}
	specs := make([]ioSpec, len(names))
	for i, name := range names {
		j := slices.IndexFunc(m.outputs, func(s ioSpec) bool { return s.name == name })
		if j < 0 {
			parts := make([]string, len(m.outputs))
			for k, s := range m.outputs {
				parts[k] = fmt.Sprintf("%q", s.name)
			}
			return nil, &RequestError{Msg: fmt.Sprintf("requested output %q does not exist; the model's outputs are %s", name, strings.Join(parts, ", "))}
		}
		specs[i] = m.outputs[j]
	}
	return specs, nil
}

// output turns a computed tensor into a Tensor with contiguous data.
func (m *onnxModel) output(spec ioSpec, t tensor.Tensor) (Tensor, error) {
	d, ok := t.(*tensor.Dense)
	if !ok {
		return Tensor{}, fmt.Errorf("output %q: the model produced no dense tensor (%T)", spec.name, t)
	}
	if d.IsMaterializable() {
		d = d.Materialize().(*tensor.Dense)
	} else if m.own[spec.name] {
		d = d.Clone().(*tensor.Dense) // never hand out a weight's or the caller's own array
	}
	shape := d.Shape()
	out := Tensor{Name: spec.name, Shape: make([]int64, len(shape))}
	for i, s := range shape {
		out.Shape[i] = int64(s)
	}
	if d.IsScalar() {
		out.Shape = out.Shape[:0]
		out.Data = sliceOfScalar(d.Data())
	} else {
		out.Data = d.Data()
	}
	out.Datatype = datatypeOfData(out.Data)
	if out.Datatype == "" {
		return Tensor{}, fmt.Errorf("output %q has element type %s, which the builtin runtime cannot return", spec.name, d.Dtype())
	}
	n, _ := Elements(out.Shape)
	if dataLen(out.Data) != n {
		return Tensor{}, fmt.Errorf("output %q: %d values for shape %v", spec.name, dataLen(out.Data), out.Shape)
	}
	return out, nil
}

func sliceOfScalar(v any) any {
	switch x := v.(type) {
	case float32:
		return []float32{x}
	case float64:
		return []float64{x}
	case int8:
		return []int8{x}
	case int16:
		return []int16{x}
	case int32:
		return []int32{x}
	case int64:
		return []int64{x}
	case uint8:
		return []uint8{x}
	case uint16:
		return []uint16{x}
	case uint32:
		return []uint32{x}
	case uint64:
		return []uint64{x}
	case bool:
		return []bool{x}
	}
	return v
}

func datatypeOfData(data any) string {
	switch data.(type) {
	case []float32:
		return apitypes.DatatypeFP32
	case []float64:
		return apitypes.DatatypeFP64
	case []int8:
		return apitypes.DatatypeInt8
	case []int16:
		return apitypes.DatatypeInt16
	case []int32:
		return apitypes.DatatypeInt32
	case []int64:
		return apitypes.DatatypeInt64
	case []uint8:
		return apitypes.DatatypeUint8
	case []uint16:
		return apitypes.DatatypeUint16
	case []uint32:
		return apitypes.DatatypeUint32
	case []uint64:
		return apitypes.DatatypeUint64
	case []bool:
		return apitypes.DatatypeBool
	}
	return ""
}
