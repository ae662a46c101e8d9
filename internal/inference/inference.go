// Package inference executes models inside a `slipway worker` process: it
// loads a model artifact, describes it as Open Inference Protocol v2 metadata
// and runs infer requests against it.
//
// The builtin runtime is pure Go. ONNX models run on gonnx, which implements
// ai.onnx opset 13 only; Check refuses anything else at registration time so
// that an unrunnable model never reaches a rollout. LightGBM and XGBoost tree
// ensembles run on github.com/dmitryikh/leaves (see trees.go).
package inference

import (
	"context"
	"errors"
	"fmt"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// Model is a loaded model. Implementations are safe for concurrent use.
type Model interface {
	// Metadata describes the model's inputs and outputs; -1 marks a dynamic
	// dimension.
	Metadata() apitypes.ModelMetadata

	// Infer runs one Open Inference Protocol v2 request. Client mistakes
	// (unknown or missing input, wrong datatype or shape, bad data) are
	// returned as *RequestError.
	Infer(ctx context.Context, req *apitypes.InferRequest) (*apitypes.InferResponse, error)

	// Run is the typed path under Infer, for callers that decode the wire
	// format themselves (the worker). It returns the outputs named in
	// outputs, or all of them in model order when outputs is empty. The
	// returned data must be treated as read-only.
	Run(ctx context.Context, inputs []Tensor, outputs []string) ([]Tensor, error)
}

// Tensor is a decoded tensor. Data is a flat, row-major typed slice matching
// Datatype: []float32 for FP32, []float64 for FP64, []int8/16/32/64,
// []uint8/16/32/64 for the integer types and []bool for BOOL.
type Tensor struct {
	Name     string
	Datatype string
	Shape    []int64
	Data     any
}

// RequestError is a mistake in an infer request. The worker answers it with
// 400 and the message, which names the input and what was expected.
type RequestError struct {
	Input string // the tensor concerned; empty when the request as a whole is wrong
	Msg   string
}

func (e *RequestError) Error() string {
	if e.Input == "" {
		return e.Msg
	}
	return fmt.Sprintf("input %q: %s", e.Input, e.Msg)
}

func badInput(input, format string, args ...any) *RequestError {
	return &RequestError{Input: input, Msg: fmt.Sprintf(format, args...)}
}

// ErrUnsupported matches (errors.Is) every error saying that a model is valid
// but the builtin runtime cannot serve it: another opset, an operator gonnx
// lacks, a format not implemented yet. The server can answer those with a
// hint to use the process runtime rather than calling the artifact broken.
var ErrUnsupported = errors.New("not supported by the builtin runtime")

type unsupportedError string

func (e unsupportedError) Error() string        { return string(e) }
func (e unsupportedError) Is(target error) bool { return target == ErrUnsupported }

func unsupported(format string, args ...any) error {
	return unsupportedError(fmt.Sprintf(format, args...))
}

// Formats handled by Load and Check.
const (
	FormatONNX     = "onnx"
	FormatLightGBM = "lightgbm"
	FormatXGBoost  = "xgboost"
)

// Load reads the model at path and prepares it for inference. format is the
// model version's format ("onnx", "lightgbm" or "xgboost").
func Load(path, format string) (Model, error) {
	switch format {
	case FormatONNX:
		return loadONNX(path)
	case FormatLightGBM:
		return loadLightGBM(path)
	case FormatXGBoost:
		return loadXGBoost(path)
	default:
		return nil, formatError(format)
	}
}

// Check validates that the builtin runtime can serve the model at path
// without running it: for ONNX, the file parses, the opset is supported and
// every operator is implemented; LightGBM and XGBoost models are cheap to
// load, so Check loads them fully (and validates their trees). The server
// calls it when a version is registered.
func Check(path, format string) error {
	switch format {
	case FormatONNX:
		_, err := readONNX(path)
		return err
	case FormatLightGBM:
		_, err := loadLightGBM(path)
		return err
	case FormatXGBoost:
		_, err := loadXGBoost(path)
		return err
	default:
		return formatError(format)
	}
}

func formatError(format string) error {
	return unsupported("format %q is not supported by the builtin runtime, which serves onnx, lightgbm and xgboost; use the process or external runtime", format)
}

// infer is Model.Infer for every format: it converts the OIP request's
// tensors, runs the model's typed path, and converts the outputs back.
func infer(ctx context.Context, m Model, name string, req *apitypes.InferRequest) (*apitypes.InferResponse, error) {
	if req == nil {
		return nil, &RequestError{Msg: "empty request"}
	}
	inputs := make([]Tensor, len(req.Inputs))
	for i, in := range req.Inputs {
		t, err := TensorFromInfer(in)
		if err != nil {
			return nil, err
		}
		inputs[i] = t
	}
	var names []string
	for _, o := range req.Outputs {
		names = append(names, o.Name)
	}
	outs, err := m.Run(ctx, inputs, names)
	if err != nil {
		return nil, err
	}
	resp := &apitypes.InferResponse{ModelName: name, ID: req.ID, Outputs: make([]apitypes.InferTensor, len(outs))}
	for i, o := range outs {
		if resp.Outputs[i], err = o.ToInfer(); err != nil {
			return nil, err
		}
	}
	return resp, nil
}
