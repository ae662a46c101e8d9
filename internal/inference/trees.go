package inference

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/dmitryikh/leaves"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// This file serves gradient-boosted tree ensembles (LightGBM, XGBoost) with
// github.com/dmitryikh/leaves. lightgbm.go and xgboost.go read and validate
// the model files; the model they build here has one input and one output:
//
//	x  FP32 [-1, features]   one row per example (FP64 is accepted too)
//	y  FP32 [-1, outputs]    one row of predictions per example
//
// # Outputs: transformed, as the library's own predict returns them
//
// leaves is always loaded with loadTransformation=false (raw scores), and
// the objective's output transformation is applied here instead: y is what
// LightGBM's Booster.predict and XGBoost's Booster.predict return by default
// (probabilities for binary and multiclass classifiers, exp() of the score
// for Poisson/Gamma/Tweedie regressions, the score itself for plain
// regression and ranking). leaves' own transformations cover only sigmoid,
// softmax and exp, refuse models whose objective needs none (huber,
// quantile, ranking…), skip LightGBM random forests and are not offered for
// LightGBM's JSON form, so they would serve fewer models, some of them
// wrongly. A model whose objective is not known here is refused by Check
// rather than served raw.

const (
	treeInput  = "x"
	treeOutput = "y"
	// predictChunk rows are predicted between checks of the context.
	predictChunk = 256
)

// treeModel is a loaded tree ensemble. leaves' Ensemble is read-only once
// loaded and PredictDense with one thread keeps its scratch space on the
// stack or in the caller's slices, so concurrent Runs are safe.
type treeModel struct {
	meta      apitypes.ModelMetadata // Name and Platform
	ens       *leaves.Ensemble       // raw scores
	nFeatures int
	nRaw      int // raw scores per row (classes, or 1)
	transform outputTransform
	// rawScale multiplies raw scores before the transformation: LightGBM
	// random forests in JSON form, which leaves sums but LightGBM averages.
	rawScale float64
	// float32Features rounds FP64 inputs to float32 first, as XGBoost stores
	// features as float32 before comparing them with its float32 thresholds.
	float32Features bool
}

// transformKind is an objective's link from raw score to prediction.
type transformKind int

const (
	linkIdentity   transformKind = iota
	linkSigmoid                  // 1/(1+exp(-scale·x)) for each score
	linkSoftmax                  // softmax over the row's scores
	linkExp                      // exp(x)
	linkSignSquare               // sign(x)·x², LightGBM regressions trained with reg_sqrt
	linkLog1pExp                 // log(1+exp(x)), LightGBM cross_entropy_lambda
	linkStep                     // 1 if x > 0 else 0, XGBoost binary:hinge
	linkArgmax                   // index of the largest score, XGBoost multi:softmax
)

type outputTransform struct {
	kind  transformKind
	scale float64 // linkSigmoid's slope
}

// width is the number of predictions per row for nRaw raw scores.
func (t outputTransform) width(nRaw int) int {
	if t.kind == linkArgmax {
		return 1
	}
	return nRaw
}

// apply transforms one row of raw scores into out (len width(len(raw))).
func (t outputTransform) apply(raw []float64, out []float32) {
	switch t.kind {
	case linkSoftmax:
		hi := math.Inf(-1)
		for _, v := range raw {
			hi = max(hi, v)
		}
		sum := 0.0
		for _, v := range raw {
			sum += math.Exp(v - hi)
		}
		for i, v := range raw {
			out[i] = float32(math.Exp(v-hi) / sum)
		}
	case linkArgmax:
		best := 0
		for i, v := range raw {
			if v > raw[best] {
				best = i
			}
		}
		out[0] = float32(best)
	default:
		for i, v := range raw {
			out[i] = float32(t.scalar(v))
		}
	}
}

func (t outputTransform) scalar(v float64) float64 {
	switch t.kind {
	case linkSigmoid:
		return 1 / (1 + math.Exp(-t.scale*v))
	case linkExp:
		return math.Exp(v)
	case linkSignSquare:
		if v < 0 {
			return -v * v
		}
		return v * v
	case linkLog1pExp:
		if v > 35 { // log1p(exp(v)) == v to double precision; exp would overflow sooner or later
			return v
		}
		return math.Log1p(math.Exp(v))
	case linkStep:
		if v > 0 {
			return 1
		}
		return 0
	}
	return v
}

// newTreeModel finishes a loaded ensemble. nFeatures comes from the model
// file, not from leaves, whose NFeatures reports 0 for a one-feature model.
func newTreeModel(path, platform string, ens *leaves.Ensemble, nFeatures int, t outputTransform) (*treeModel, error) {
	nRaw := ens.NRawOutputGroups()
	if nRaw < 1 || ens.NEstimators() < 1 {
		return nil, fmt.Errorf("%s model has %d output groups and %d trees per group", platform, nRaw, ens.NEstimators())
	}
	if t.kind == linkSoftmax && nRaw < 2 {
		return nil, fmt.Errorf("%s model has a multiclass objective but one output group", platform)
	}
	return &treeModel{
		meta:      apitypes.ModelMetadata{Name: modelName(path), Platform: platform},
		ens:       ens,
		nFeatures: nFeatures,
		nRaw:      nRaw,
		transform: t,
		rawScale:  1,
	}, nil
}

func (m *treeModel) Metadata() apitypes.ModelMetadata {
	md := m.meta
	md.Inputs = []apitypes.MetadataTensor{{Name: treeInput, Datatype: apitypes.DatatypeFP32, Shape: []int64{-1, int64(m.nFeatures)}}}
	md.Outputs = []apitypes.MetadataTensor{{Name: treeOutput, Datatype: apitypes.DatatypeFP32, Shape: []int64{-1, int64(m.transform.width(m.nRaw))}}}
	return md
}

func (m *treeModel) Infer(ctx context.Context, req *apitypes.InferRequest) (*apitypes.InferResponse, error) {
	return infer(ctx, m, m.meta.Name, req)
}

func (m *treeModel) Run(ctx context.Context, inputs []Tensor, outputs []string) (out []Tensor, err error) {
	x, rows, err := m.features(inputs)
	if err != nil {
		return nil, err
	}
	for _, name := range outputs {
		if name != treeOutput {
			return nil, &RequestError{Msg: fmt.Sprintf("requested output %q does not exist; the model's outputs are %q", name, treeOutput)}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// leaves indexes its trees without bounds checks of its own; Load
	// validated them, and a panic still must not take the worker down.
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("model execution panicked: %v", r)
		}
	}()
	width := m.transform.width(m.nRaw)
	y := make([]float32, rows*width)
	raw := make([]float64, min(rows, predictChunk)*m.nRaw)
	for start := 0; start < rows; start += predictChunk {
		if start > 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		end := min(start+predictChunk, rows)
		raw := raw[:(end-start)*m.nRaw]
		// nThreads 1: the worker already runs requests concurrently.
		if err := m.ens.PredictDense(x[start*m.nFeatures:end*m.nFeatures], end-start, m.nFeatures, raw, 0, 1); err != nil {
			return nil, fmt.Errorf("model execution failed: %w", err)
		}
		if m.rawScale != 1 {
			for i := range raw {
				raw[i] *= m.rawScale
			}
		}
		for r := start; r < end; r++ {
			i := r - start
			m.transform.apply(raw[i*m.nRaw:(i+1)*m.nRaw], y[r*width:(r+1)*width])
		}
	}
	t := Tensor{Name: treeOutput, Datatype: apitypes.DatatypeFP32, Shape: []int64{int64(rows), int64(width)}, Data: y}
	n := max(len(outputs), 1)
	out = make([]Tensor, n)
	for i := range out {
		out[i] = t // the same read-only data for a repeated name
	}
	return out, nil
}

// features validates the request's tensors and returns the feature matrix,
// row-major, as leaves wants it.
func (m *treeModel) features(inputs []Tensor) ([]float64, int, error) {
	var in *Tensor
	for i := range inputs {
		if inputs[i].Name != treeInput {
			return nil, 0, badInput(inputs[i].Name, "the model has no such input; its inputs are %s", m.inputDesc())
		}
		if in != nil {
			return nil, 0, badInput(treeInput, "is given twice")
		}
		in = &inputs[i]
	}
	if in == nil {
		return nil, 0, badInput(treeInput, "is missing; the model needs %s", m.inputDesc())
	}
	expected := []int64{-1, int64(m.nFeatures)}
	switch in.Datatype {
	case apitypes.DatatypeFP32, apitypes.DatatypeFP64:
	case "":
		return nil, 0, badInput(treeInput, "datatype is missing; the model expects FP32 (or FP64)")
	default:
		return nil, 0, badInput(treeInput, "datatype is %s; the model expects FP32 (or FP64)", in.Datatype)
	}
	if len(in.Shape) != 2 {
		return nil, 0, badInput(treeInput, "shape %v has %d dimensions; the model expects 2, shaped %v (-1: any size): one row of %d features per example", in.Shape, len(in.Shape), expected, m.nFeatures)
	}
	if in.Shape[1] != int64(m.nFeatures) && in.Shape[1] >= 0 {
		return nil, 0, badInput(treeInput, "shape %v has %d at dimension 1; the model expects %v (-1: any size): one row of %d features per example", in.Shape, in.Shape[1], expected, m.nFeatures)
	}
	if !dataMatches(in.Datatype, in.Data) {
		return nil, 0, badInput(treeInput, "data of Go type %T does not match datatype %s", in.Data, in.Datatype)
	}
	n, ok := Elements(in.Shape)
	if !ok {
		return nil, 0, badInput(treeInput, "shape %v is invalid: dimensions must be non-negative and hold under 2³¹ elements", in.Shape)
	}
	if n == 0 {
		return nil, 0, badInput(treeInput, "shape %v holds no elements; the builtin runtime needs at least one", in.Shape)
	}
	if got := dataLen(in.Data); got != n {
		return nil, 0, badInput(treeInput, "data has %d elements but shape %v holds %d", got, in.Shape, n)
	}
	rows := int(in.Shape[0])
	switch d := in.Data.(type) {
	case []float32:
		x := make([]float64, len(d))
		for i, v := range d {
			x[i] = float64(v)
		}
		return x, rows, nil
	case []float64:
		if !m.float32Features {
			return d, rows, nil // leaves only reads it
		}
		x := make([]float64, len(d))
		for i, v := range d {
			x[i] = float64(float32(v))
		}
		return x, rows, nil
	}
	return nil, 0, badInput(treeInput, "data of Go type %T does not match datatype %s", in.Data, in.Datatype)
}

func (m *treeModel) inputDesc() string {
	return fmt.Sprintf("%q FP32 [-1 %d] (FP64 also accepted)", treeInput, m.nFeatures)
}

// invalidModel says that the file at path is not a model of format.
func invalidModel(path, format string, err error) error {
	return fmt.Errorf("%s is not a valid %s model: %w", baseName(path), format, err)
}

// recoverInto turns a panic in leaves' readers, which index what they read
// without bounds checks, into an error for a malformed file.
func recoverInto(err *error, path, format string) {
	if r := recover(); r != nil {
		*err = invalidModel(path, format, fmt.Errorf("%v", r))
	}
}

func baseName(path string) string { return filepath.Base(path) }

// modelName is the file's base name without its extension, as for ONNX; the
// worker answers with the configured name.
func modelName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}
