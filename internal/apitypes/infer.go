package apitypes

import (
	"bytes"
	"encoding/json"
)

// InferTensor is one named tensor of an Open Inference Protocol v2 request
// or response.
type InferTensor struct {
	Name       string         `json:"name"`
	Shape      []int64        `json:"shape"`
	Datatype   string         `json:"datatype"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Data       []any          `json:"data"`
}

// InferRequest is an Open Inference Protocol v2 infer request body.
type InferRequest struct {
	ID         string         `json:"id,omitempty"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Inputs     []InferTensor  `json:"inputs"`
	Outputs    []struct {
		Name       string         `json:"name"`
		Parameters map[string]any `json:"parameters,omitempty"`
	} `json:"outputs,omitempty"`
}

// InferResponse is an Open Inference Protocol v2 infer response body.
type InferResponse struct {
	ModelName    string         `json:"model_name"`
	ModelVersion string         `json:"model_version,omitempty"`
	ID           string         `json:"id,omitempty"`
	Parameters   map[string]any `json:"parameters,omitempty"`
	Outputs      []InferTensor  `json:"outputs"`
}

func validInferBody(field, body string) error {
	var req InferRequest
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Invalid(field, "is not an Open Inference Protocol v2 infer request: %v", err)
	}
	if len(req.Inputs) == 0 {
		return Invalid(field, "has no inputs; an infer request needs at least one input tensor")
	}
	return nil
}
