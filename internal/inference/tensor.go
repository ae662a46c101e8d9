package inference

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// This file converts tensor data between the wire (JSON, or the []any of a
// decoded apitypes.InferTensor) and typed Go slices. The worker's hot path
// uses ParseTensorData and AppendTensorData, which work on raw JSON bytes so
// that a request's numbers never become interface values.

// ParseTensorData parses the JSON "data" array of the input called name into
// the typed slice for datatype (see Tensor). Nested arrays are flattened in
// row-major order, as the Open Inference Protocol allows. sizeHint, the
// element count the shape promises, only pre-sizes the result. Errors are
// *RequestError.
func ParseTensorData(name, datatype string, raw []byte, sizeHint int) (any, error) {
	// A shape can promise far more elements than the body holds; each
	// element takes at least two bytes ("1,"), so cap the allocation by that.
	sizeHint = min(max(sizeHint, 0), len(raw)/2+1)
	switch datatype {
	case apitypes.DatatypeFP32:
		return typed(parseData(name, datatype, raw, make([]float32, 0, sizeHint), floatFromToken[float32](32)))
	case apitypes.DatatypeFP64:
		return typed(parseData(name, datatype, raw, make([]float64, 0, sizeHint), floatFromToken[float64](64)))
	case apitypes.DatatypeInt8:
		return typed(parseData(name, datatype, raw, make([]int8, 0, sizeHint), intFromToken[int8](8)))
	case apitypes.DatatypeInt16:
		return typed(parseData(name, datatype, raw, make([]int16, 0, sizeHint), intFromToken[int16](16)))
	case apitypes.DatatypeInt32:
		return typed(parseData(name, datatype, raw, make([]int32, 0, sizeHint), intFromToken[int32](32)))
	case apitypes.DatatypeInt64:
		return typed(parseData(name, datatype, raw, make([]int64, 0, sizeHint), intFromToken[int64](64)))
	case apitypes.DatatypeUint8:
		return typed(parseData(name, datatype, raw, make([]uint8, 0, sizeHint), uintFromToken[uint8](8)))
	case apitypes.DatatypeUint16:
		return typed(parseData(name, datatype, raw, make([]uint16, 0, sizeHint), uintFromToken[uint16](16)))
	case apitypes.DatatypeUint32:
		return typed(parseData(name, datatype, raw, make([]uint32, 0, sizeHint), uintFromToken[uint32](32)))
	case apitypes.DatatypeUint64:
		return typed(parseData(name, datatype, raw, make([]uint64, 0, sizeHint), uintFromToken[uint64](64)))
	case apitypes.DatatypeBool:
		return typed(parseData(name, datatype, raw, make([]bool, 0, sizeHint), boolFromToken))
	default:
		return nil, unknownDatatype(name, datatype)
	}
}

func unknownDatatype(name, datatype string) *RequestError {
	if datatype == "" {
		return badInput(name, "datatype is missing")
	}
	if datatype == apitypes.DatatypeBytes || datatype == apitypes.DatatypeFP16 {
		return badInput(name, "datatype %s is not supported by the builtin runtime", datatype)
	}
	return badInput(name, "datatype %q is not an Open Inference Protocol datatype (BOOL, UINT8..UINT64, INT8..INT64, FP32, FP64)", datatype)
}

// typed keeps a failed parse from becoming a non-nil any holding a nil slice.
func typed[T any](v []T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

func parseData[T any](name, datatype string, raw []byte, out []T, conv func([]byte) (T, string)) ([]T, error) {
	s := dataScanner{b: raw}
	for {
		tok, err := s.next()
		if err != nil {
			return nil, badInput(name, "data %v", err)
		}
		if tok == nil {
			return out, nil
		}
		v, problem := conv(tok)
		if problem != "" {
			return nil, badInput(name, "data element %d (%s) %s; datatype %s holds %s", len(out), shortToken(tok), problem, datatype, holds(datatype))
		}
		out = append(out, v)
	}
}

func holds(datatype string) string {
	switch datatype {
	case apitypes.DatatypeFP32, apitypes.DatatypeFP64:
		return "finite numbers"
	case apitypes.DatatypeBool:
		return "true or false"
	default:
		return "integers"
	}
}

func shortToken(tok []byte) string {
	const limit = 32
	if len(tok) > limit {
		return string(tok[:limit]) + "…"
	}
	return string(tok)
}

// dataScanner walks a JSON array, possibly nested, and yields its leaf
// tokens. It does not allocate.
type dataScanner struct {
	b          []byte
	i          int
	depth      int
	started    bool
	afterValue bool // a value was just read: ',' or ']' must follow
	justOpened bool // '[' was just read: ']' may follow
}

const maxDataDepth = 64

type scanError string

func (e scanError) Error() string { return string(e) }

// next returns the next leaf token, nil at the end of the array.
func (s *dataScanner) next() ([]byte, error) {
	if !s.started {
		s.started = true
		s.skipSpace()
		if s.i >= len(s.b) {
			return nil, scanError("is missing")
		}
		if s.b[s.i] != '[' {
			return nil, scanError("must be a JSON array")
		}
		s.i++
		s.depth, s.justOpened = 1, true
	}
	for {
		s.skipSpace()
		if s.depth == 0 {
			if s.i != len(s.b) {
				return nil, scanError("has trailing characters after the array")
			}
			return nil, nil
		}
		if s.i >= len(s.b) {
			return nil, scanError("ends before its array is closed")
		}
		c := s.b[s.i]
		if s.afterValue {
			switch c {
			case ',':
				s.afterValue = false
			case ']':
				s.depth--
			default:
				return nil, scanError(fmt.Sprintf("has %q at offset %d where ',' or ']' was expected", c, s.i))
			}
			s.i++
			continue
		}
		switch c {
		case '[':
			if s.depth++; s.depth > maxDataDepth {
				return nil, scanError("nests arrays too deeply")
			}
			s.i++
			s.justOpened = true
			continue
		case ']':
			if !s.justOpened {
				return nil, scanError(fmt.Sprintf("has ']' at offset %d where a value was expected", s.i))
			}
			s.i++
			s.depth--
			s.afterValue, s.justOpened = true, false
			continue
		case ',':
			return nil, scanError(fmt.Sprintf("has ',' at offset %d where a value was expected", s.i))
		}
		start := s.i
		if c == '"' {
			s.skipString()
		} else {
			for s.i < len(s.b) && !isDelim(s.b[s.i]) {
				s.i++
			}
		}
		s.afterValue, s.justOpened = true, false
		return s.b[start:s.i], nil
	}
}

func (s *dataScanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// skipString moves past a JSON string starting at s.i, so that commas and
// brackets inside it are not taken for structure.
func (s *dataScanner) skipString() {
	s.i++
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			s.i++
			return
		}
		s.i++
	}
	s.i = len(s.b)
}

func isDelim(c byte) bool {
	switch c {
	case ',', ']', '[', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// notNumber returns why tok is not a JSON number, or "" when it is one.
// strconv alone would accept NaN, Inf, hex and underscores.
func notNumber(tok []byte) string {
	if validJSONNumber(tok) {
		return ""
	}
	switch string(tok) {
	case "true", "false":
		return "is a boolean"
	case "null":
		return "is null"
	case "NaN", "-NaN", "nan":
		return "is NaN, which JSON cannot carry"
	case "Infinity", "-Infinity", "+Infinity", "inf", "-inf", "Inf", "-Inf":
		return "is infinite, which JSON cannot carry"
	}
	if tok[0] == '"' {
		return "is a string"
	}
	return "is not a JSON number"
}

func validJSONNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	return i == len(b)
}

func floatFromToken[T float32 | float64](bits int) func([]byte) (T, string) {
	return func(tok []byte) (T, string) {
		if p := notNumber(tok); p != "" {
			return 0, p
		}
		f, err := strconv.ParseFloat(string(tok), bits) // the conversion does not allocate: strconv clones what it keeps
		if err != nil {
			return 0, "is out of range"
		}
		return T(f), ""
	}
}

func intFromToken[T int8 | int16 | int32 | int64](bits int) func([]byte) (T, string) {
	return func(tok []byte) (T, string) {
		if p := notNumber(tok); p != "" {
			return 0, p
		}
		i, err := strconv.ParseInt(string(tok), 10, bits)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return 0, "is out of range"
			}
			return 0, "is not an integer"
		}
		return T(i), ""
	}
}

func uintFromToken[T uint8 | uint16 | uint32 | uint64](bits int) func([]byte) (T, string) {
	return func(tok []byte) (T, string) {
		if p := notNumber(tok); p != "" {
			return 0, p
		}
		u, err := strconv.ParseUint(string(tok), 10, bits)
		if err != nil {
			switch {
			case tok[0] == '-':
				return 0, "is negative"
			case errors.Is(err, strconv.ErrRange):
				return 0, "is out of range"
			}
			return 0, "is not an integer"
		}
		return T(u), ""
	}
}

func boolFromToken(tok []byte) (bool, string) {
	switch string(tok) {
	case "true":
		return true, ""
	case "false":
		return false, ""
	}
	return false, "is not a boolean"
}

// AppendTensorData appends data (a typed slice, see Tensor) to dst as the
// elements of a JSON array, without the brackets. Floats are formatted as
// encoding/json formats them. NaN and infinities have no JSON form, so they
// are an error naming the output.
func AppendTensorData(dst []byte, name string, data any) ([]byte, error) {
	switch d := data.(type) {
	case []float32:
		for i, v := range d {
			f := float64(v)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return dst, nonFinite(name, i, f)
			}
			dst = appendFloat(appendComma(dst, i), f, 32)
		}
	case []float64:
		for i, f := range d {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return dst, nonFinite(name, i, f)
			}
			dst = appendFloat(appendComma(dst, i), f, 64)
		}
	case []int8:
		dst = appendInts(dst, d)
	case []int16:
		dst = appendInts(dst, d)
	case []int32:
		dst = appendInts(dst, d)
	case []int64:
		dst = appendInts(dst, d)
	case []uint8:
		dst = appendUints(dst, d)
	case []uint16:
		dst = appendUints(dst, d)
	case []uint32:
		dst = appendUints(dst, d)
	case []uint64:
		dst = appendUints(dst, d)
	case []bool:
		for i, v := range d {
			dst = strconv.AppendBool(appendComma(dst, i), v)
		}
	default:
		return dst, fmt.Errorf("output %q: data of type %T cannot be encoded", name, data)
	}
	return dst, nil
}

func nonFinite(name string, i int, f float64) error {
	return fmt.Errorf("output %q: element %d is %v, which JSON cannot carry; the model produced a non-finite value", name, i, f)
}

func appendComma(dst []byte, i int) []byte {
	if i > 0 {
		return append(dst, ',')
	}
	return dst
}

func appendInts[T int8 | int16 | int32 | int64](dst []byte, d []T) []byte {
	for i, v := range d {
		dst = strconv.AppendInt(appendComma(dst, i), int64(v), 10)
	}
	return dst
}

func appendUints[T uint8 | uint16 | uint32 | uint64](dst []byte, d []T) []byte {
	for i, v := range d {
		dst = strconv.AppendUint(appendComma(dst, i), uint64(v), 10)
	}
	return dst
}

// appendFloat formats like encoding/json: shortest representation, 'f'
// notation except for very small or large magnitudes, "e-7" not "e-07".
func appendFloat(dst []byte, f float64, bits int) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// TensorFromInfer converts a decoded wire tensor, whose data holds float64
// (or json.Number, int, bool) values possibly in nested []any, to a typed
// Tensor. Errors are *RequestError.
func TensorFromInfer(in apitypes.InferTensor) (Tensor, error) {
	t := Tensor{Name: in.Name, Datatype: in.Datatype, Shape: in.Shape}
	if in.Data == nil {
		return t, badInput(in.Name, "data is missing")
	}
	hint := len(in.Data)
	var err error
	switch in.Datatype {
	case apitypes.DatatypeFP32:
		t.Data, err = typed(walkAny(in.Name, in.Datatype, in.Data, make([]float32, 0, hint), floatFromAny[float32](32)))
	case apitypes.DatatypeFP64:
		t.Data, err = typed(walkAny(in.Name, in.Datatype, in.Data, make([]float64, 0, hint), floatFromAny[float64](64)))
	case apitypes.DatatypeInt8:
		t.Data, err = typed(walkAny(in.Name, in.Datatype, in.Data, make([]int8, 0, hint), intFromAny[int8](8)))
	case apitypes.DatatypeInt16:
		t.Data, err = typed(walkAny(in.Name, in.Datatype, in.Data, make([]int16, 0, hint), intFromAny[int16](16)))
	case apitypes.DatatypeInt32:
		t.Data, err = typed(walkAny(in.Name, in.Datatype, in.Data, make([]int32, 0, hint), intFromAny[int32](32)))
	case apitypes.DatatypeInt64:
		t.Data, err = typed(walkAny(in.Name, in.Datatype, in.Data, make([]int64, 0, hint), intFromAny[int64](64)))
	case apitypes.DatatypeUint8:
		t.Data, err = typed(walkAny(in.Name, in.Datatype, in.Data, make([]uint8, 0, hint), uintFromAny[uint8](8)))
	case apitypes.DatatypeUint16:
		t.Data, err = typed(walkAny(in.Name, in.Datatype, in.Data, make([]uint16, 0, hint), uintFromAny[uint16](16)))
	case apitypes.DatatypeUint32:
		t.Data, err = typed(walkAny(in.Name, in.Datatype, in.Data, make([]uint32, 0, hint), uintFromAny[uint32](32)))
	case apitypes.DatatypeUint64:
		t.Data, err = typed(walkAny(in.Name, in.Datatype, in.Data, make([]uint64, 0, hint), uintFromAny[uint64](64)))
	case apitypes.DatatypeBool:
		t.Data, err = typed(walkAny(in.Name, in.Datatype, in.Data, make([]bool, 0, hint), boolFromAny))
	default:
		err = unknownDatatype(in.Name, in.Datatype)
	}
	return t, err
}

func walkAny[T any](name, datatype string, data []any, out []T, conv func(any) (T, string)) ([]T, error) {
	for _, v := range data {
		if nested, ok := v.([]any); ok {
			var err error
			if out, err = walkAny(name, datatype, nested, out, conv); err != nil {
				return nil, err
			}
			continue
		}
		x, problem := conv(v)
		if problem != "" {
			return nil, badInput(name, "data element %d (%v) %s; datatype %s holds %s", len(out), v, problem, datatype, holds(datatype))
		}
		out = append(out, x)
	}
	return out, nil
}

// notNumberAny describes a non-numeric element; "" for numeric kinds.
func notNumberAny(v any) string {
	switch v.(type) {
	case bool:
		return "is a boolean"
	case nil:
		return "is null"
	case string:
		return "is a string"
	case map[string]any:
		return "is an object"
	}
	return fmt.Sprintf("is a Go %T, not a number", v)
}

func floatFromAny[T float32 | float64](bits int) func(any) (T, string) {
	fromToken := floatFromToken[T](bits)
	return func(v any) (T, string) {
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case float32:
			f = float64(x)
		case int:
			f = float64(x)
		case int64:
			f = float64(x)
		case int32:
			f = float64(x)
		case json.Number:
			return fromToken([]byte(x))
		default:
			return 0, notNumberAny(v)
		}
		switch {
		case math.IsNaN(f):
			return 0, "is NaN"
		case math.IsInf(f, 0):
			return 0, "is infinite"
		case bits == 32 && math.Abs(f) > math.MaxFloat32:
			return 0, "is out of range"
		}
		return T(f), ""
	}
}

func intFromAny[T int8 | int16 | int32 | int64](bits int) func(any) (T, string) {
	fromToken := intFromToken[T](bits)
	lo, hi := int64(-1)<<(bits-1), int64(1)<<(bits-1)-1
	return func(v any) (T, string) {
		if f, ok := v.(float32); ok {
			v = float64(f)
		}
		var i int64
		switch x := v.(type) {
		case json.Number:
			return fromToken([]byte(x))
		case int:
			i = int64(x)
		case int64:
			i = x
		case int32:
			i = int64(x)
		case float64:
			var ok bool
			if i, ok = integral(x); !ok {
				return 0, "is not an integer"
			}
		default:
			return 0, notNumberAny(v)
		}
		if i < lo || i > hi {
			return 0, "is out of range"
		}
		return T(i), ""
	}
}

// integral converts a whole float64 within int64 range.
func integral(f float64) (int64, bool) {
	if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 { // NaN fails the first test
		return 0, false
	}
	return int64(f), true
}

func uintFromAny[T uint8 | uint16 | uint32 | uint64](bits int) func(any) (T, string) {
	fromToken := uintFromToken[T](bits)
	hi := uint64(1)<<bits - 1 // wraps to MaxUint64 for 64
	return func(v any) (T, string) {
		if f, ok := v.(float32); ok {
			v = float64(f)
		}
		var i int64
		switch x := v.(type) {
		case json.Number:
			return fromToken([]byte(x))
		case uint64:
			if x > hi {
				return 0, "is out of range"
			}
			return T(x), ""
		case int:
			i = int64(x)
		case int64:
			i = x
		case float64:
			if x >= 1<<63 && x < 1<<64 && x == math.Trunc(x) {
				if uint64(x) > hi {
					return 0, "is out of range"
				}
				return T(uint64(x)), ""
			}
			var ok bool
			if i, ok = integral(x); !ok {
				return 0, "is not an integer"
			}
		default:
			return 0, notNumberAny(v)
		}
		switch {
		case i < 0:
			return 0, "is negative"
		case uint64(i) > hi:
			return 0, "is out of range"
		}
		return T(i), ""
	}
}

func boolFromAny(v any) (bool, string) {
	if b, ok := v.(bool); ok {
		return b, ""
	}
	return false, "is not a boolean"
}

// ToInfer converts a typed tensor to its wire form: floats become float64,
// signed integers int64, unsigned integers uint64, booleans bool. NaN and
// infinities are an error, as they have no JSON form.
func (t Tensor) ToInfer() (apitypes.InferTensor, error) {
	out := apitypes.InferTensor{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape}
	switch d := t.Data.(type) {
	case []float32:
		out.Data = make([]any, len(d))
		for i, v := range d {
			f := float64(v)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return out, nonFinite(t.Name, i, f)
			}
			out.Data[i] = f
		}
	case []float64:
		out.Data = make([]any, len(d))
		for i, f := range d {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return out, nonFinite(t.Name, i, f)
			}
			out.Data[i] = f
		}
	case []int8:
		out.Data = intsToAny(d)
	case []int16:
		out.Data = intsToAny(d)
	case []int32:
		out.Data = intsToAny(d)
	case []int64:
		out.Data = intsToAny(d)
	case []uint8:
		out.Data = uintsToAny(d)
	case []uint16:
		out.Data = uintsToAny(d)
	case []uint32:
		out.Data = uintsToAny(d)
	case []uint64:
		out.Data = uintsToAny(d)
	case []bool:
		out.Data = make([]any, len(d))
		for i, v := range d {
			out.Data[i] = v
		}
	default:
		return out, fmt.Errorf("output %q: data of type %T cannot be encoded", t.Name, t.Data)
	}
	return out, nil
}

func intsToAny[T int8 | int16 | int32 | int64](d []T) []any {
	out := make([]any, len(d))
	for i, v := range d {
		out[i] = int64(v)
	}
	return out
}

func uintsToAny[T uint8 | uint16 | uint32 | uint64](d []T) []any {
	out := make([]any, len(d))
	for i, v := range d {
		out[i] = uint64(v)
	}
	return out
}

// Elements is the number of elements shape holds; ok is false when a
// dimension is negative or the count exceeds 2³¹-1.
func Elements(shape []int64) (int, bool) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt32/d {
			return 0, false
		}
		n *= d
	}
	return int(n), true
}

// dataLen is the element count of a typed slice, -1 for an unknown type.
func dataLen(data any) int {
	switch d := data.(type) {
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	case []int8:
		return len(d)
	case []int16:
		return len(d)
	case []int32:
		return len(d)
	case []int64:
		return len(d)
	case []uint8:
		return len(d)
	case []uint16:
		return len(d)
	case []uint32:
		return len(d)
	case []uint64:
		return len(d)
	case []bool:
		return len(d)
	}
	return -1
}
