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

// Open Inference Protocol v2 tensor datatypes.
const (
	DatatypeBool   = "BOOL"
	DatatypeUint8  = "UINT8"
	DatatypeUint16 = "UINT16"
	DatatypeUint32 = "UINT32"
	DatatypeUint64 = "UINT64"
	DatatypeInt8   = "INT8"
	DatatypeInt16  = "INT16"
	DatatypeInt32  = "INT32"
	DatatypeInt64  = "INT64"
	DatatypeFP16   = "FP16"
	DatatypeFP32   = "FP32"
	DatatypeFP64   = "FP64"
	DatatypeBytes  = "BYTES"
)

// MetadataTensor describes one input or output of a model in Open Inference
// Protocol v2 model metadata. A dimension of -1 is dynamic: any size is
// accepted there (typically the batch dimension).
type MetadataTensor struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// ModelMetadata is the Open Inference Protocol v2 model metadata response
// (GET /v2/models/{name}[/versions/{version}]).
type ModelMetadata struct {
	Name     string           `json:"name"`
	Versions []string         `json:"versions,omitempty"`
	Platform string           `json:"platform"`
	Inputs   []MetadataTensor `json:"inputs"`
	Outputs  []MetadataTensor `json:"outputs"`
}

// ServerMetadata is the Open Inference Protocol v2 server metadata response
// (GET /v2).
type ServerMetadata struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

// InferError is the Open Inference Protocol v2 error body, used by every /v2
// route that fails.
type InferError struct {
	Error string `json:"error"`
}
