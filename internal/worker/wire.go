package worker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// wireRequest is an Open Inference Protocol v2 infer request as the worker
// decodes it: each input's data stays raw JSON, parsed afterwards straight
// into a typed slice by inference.ParseTensorData instead of becoming a
// []any of boxed float64s. Unknown fields are ignored, as OIP clients add
// their own.
type wireRequest struct {
	ID         string          `json:"id"`
	Parameters json.RawMessage `json:"parameters"`
	Inputs     []wireInput     `json:"inputs"`
	Outputs    []wireOutput    `json:"outputs"`
}

type wireInput struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters json.RawMessage `json:"parameters"`
	Data       json.RawMessage `json:"data"`
}

type wireOutput struct {
	Name       string          `json:"name"`
	Parameters json.RawMessage `json:"parameters"`
}

// reset empties r for reuse while keeping the capacity of its raw buffers.
// encoding/json decodes into existing slice elements without zeroing them,
// so every field must be cleared or a previous request would leak through.
func (r *wireRequest) reset() {
	r.ID = ""
	r.Parameters = r.Parameters[:0]
	ins := r.Inputs[:cap(r.Inputs)]
	for i := range ins {
		// Shape goes back to nil so that a missing "shape" is told apart
		// from a scalar's [].
		ins[i] = wireInput{Parameters: ins[i].Parameters[:0], Data: ins[i].Data[:0]}
	}
	r.Inputs = r.Inputs[:0]
	outs := r.Outputs[:cap(r.Outputs)]
	for i := range outs {
		outs[i] = wireOutput{Parameters: outs[i].Parameters[:0]}
	}
	r.Outputs = r.Outputs[:0]
}

func (r *wireRequest) decode(body []byte) error {
	r.reset()
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("request body is empty; send an Open Inference Protocol infer request: {\"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}]}")
	}
	if err := json.Unmarshal(body, r); err != nil {
		return jsonError(body, err)
	}
	if len(r.Inputs) == 0 {
		return errors.New("request has no inputs; an infer request needs at least one input tensor")
	}
	return nil
}

// jsonError rewords encoding/json errors for whoever wrote the request.
func jsonError(body []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		if int(syn.Offset) >= len(body) {
			return errors.New("request body is truncated JSON")
		}
		if off := int(syn.Offset) - 1; off >= 0 && off < len(body) {
			switch body[off] {
			case 'N', 'I':
				return fmt.Errorf("request body is not valid JSON at offset %d: NaN and Infinity are not JSON numbers; send finite values", off)
			}
		}
		return fmt.Errorf("request body is not valid JSON: %w (offset %d)", err, syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Errorf("request body: %s must be %s, not a JSON %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return fmt.Errorf("request body must be a JSON object, not a JSON %s", typ.Value)
	}
	return fmt.Errorf("request body: %w", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	case "int64":
		return "an integer"
	}
	return "a " + goKind
}

func (in *wireInput) check(i int) error {
	switch {
	case in.Name == "":
		return fmt.Errorf("inputs[%d]: name is missing", i)
	case in.Shape == nil:
		return fmt.Errorf("input %q: shape is missing", in.Name)
	case in.Datatype == "":
		return fmt.Errorf("input %q: datatype is missing", in.Name)
	case len(in.Data) == 0:
		return fmt.Errorf("input %q: data is missing", in.Name)
	case bytes.Contains(in.Parameters, []byte(`"binary_data_size"`)):
		return fmt.Errorf("input %q: the binary tensor data extension is not supported; send data as JSON", in.Name)
	}
	return nil
}
