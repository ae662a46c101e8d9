// Package apitypes holds the wire types of the Slipway /v1 API and the rules
// that make a value of them valid. The server and the client (and through it
// the provider) share this package, so a value the provider accepts at plan
// time is a value the server accepts at apply time.
package apitypes

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes. Each maps to exactly one HTTP status in Status.
const (
	CodeInvalid        = "invalid"       // 400: malformed body or a bad value; Field names it
	CodeUnauthorized   = "unauthorized"  // 401: no or unknown bearer token
	CodeForbidden      = "forbidden"     // 403: the token's role may not do this
	CodeNotFound       = "not_found"     // 404
	CodeConflict       = "conflict"      // 409: already exists, stale revision, or in use
	CodeTooLarge       = "too_large"     // 413: request body over the limit
	CodeUnprocessable  = "unprocessable" // 422: well-formed but cannot be done (digest mismatch, unreachable artifact)
	CodeInternal       = "internal"      // 500: never caused by client input
	CodeUnavailable    = "unavailable"   // 503
	CodeRateLimited    = "rate_limited"  // 429
	CodeMethodNotAllow = "method_not_allowed"
)

// Error is the one error type of the API. The server renders it as JSON
// {code, message, field}; the client parses it back, so callers on both sides
// branch on Code rather than on HTTP statuses or message text.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

// Status is the HTTP status for the error's code.
func (e *Error) Status() int {
	switch e.Code {
	case CodeInvalid:
		return http.StatusBadRequest
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeConflict:
		return http.StatusConflict
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeUnprocessable:
		return http.StatusUnprocessableEntity
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeMethodNotAllow:
		return http.StatusMethodNotAllowed
	default:
		return http.StatusInternalServerError
	}
}

// Errorf builds an Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid builds a 400 error naming the field at fault.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the Code of an *Error anywhere in err's chain, CodeInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// IsNotFound reports whether err is an API not_found error.
func IsNotFound(err error) bool { return ErrorCode(err) == CodeNotFound }

// IsConflict reports whether err is an API conflict error.
func IsConflict(err error) bool { return ErrorCode(err) == CodeConflict }
