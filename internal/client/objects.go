package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// Health checks GET /healthz.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil, nil)
}

func versionPath(id string) (string, error) {
	m, v, err := apitypes.SplitModelVersionID(id)
	if err != nil {
		return "", apitypes.Invalid("id", "%s", err)
	}
	return "/v1/models/" + esc(m) + "/versions/" + esc(v), nil
}

// CreateModelVersion registers a model version; the server fetches and
// verifies its artifact before answering.
func (c *Client) CreateModelVersion(ctx context.Context, m *apitypes.ModelVersion) (*apitypes.ModelVersion, error) {
	var out apitypes.ModelVersion
	if err := c.do(ctx, http.MethodPost, "/v1/models/"+esc(m.Model)+"/versions", nil, m, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetModelVersion reads a model version by "model/version".
func (c *Client) GetModelVersion(ctx context.Context, id string) (*apitypes.ModelVersion, error) {
	p, err := versionPath(id)
	if err != nil {
		return nil, err
	}
	var out apitypes.ModelVersion
	if err := c.do(ctx, http.MethodGet, p, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// VersionListOptions narrows ListModelVersions.
type VersionListOptions struct {
	Model  string
	Labels map[string]string
}

// ListModelVersions lists model versions, oldest first.
func (c *Client) ListModelVersions(ctx context.Context, opts VersionListOptions) ([]apitypes.ModelVersion, error) {
	q := url.Values{}
	if opts.Model != "" {
		q.Set("model", opts.Model)
	}
	labelQuery(q, opts.Labels)
	var out apitypes.ModelVersionList
	if err := c.do(ctx, http.MethodGet, "/v1/versions", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// UpdateModelVersion changes the mutable fields of a model version.
func (c *Client) UpdateModelVersion(ctx context.Context, id string, patch *apitypes.ModelVersionPatch) (*apitypes.ModelVersion, error) {
	p, err := versionPath(id)
	if err != nil {
		return nil, err
	}
	var out apitypes.ModelVersion
	if err := c.do(ctx, http.MethodPatch, p, nil, patch, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteModelVersion deletes a model version that no endpoint uses.
func (c *Client) DeleteModelVersion(ctx context.Context, id string) error {
	p, err := versionPath(id)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, p, nil, nil, nil)
}

// CreatePolicy creates a deployment policy.
func (c *Client) CreatePolicy(ctx context.Context, p *apitypes.DeploymentPolicy) (*apitypes.DeploymentPolicy, error) {
	var out apitypes.DeploymentPolicy
	if err := c.do(ctx, http.MethodPost, "/v1/policies", nil, p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetPolicy reads a deployment policy.
func (c *Client) GetPolicy(ctx context.Context, name string) (*apitypes.DeploymentPolicy, error) {
	var out apitypes.DeploymentPolicy
	if err := c.do(ctx, http.MethodGet, "/v1/policies/"+esc(name), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListPolicies lists deployment policies by name.
func (c *Client) ListPolicies(ctx context.Context) ([]apitypes.DeploymentPolicy, error) {
	var out apitypes.PolicyList
	if err := c.do(ctx, http.MethodGet, "/v1/policies", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// UpdatePolicy replaces a policy; p.Revision must be the revision last read.
func (c *Client) UpdatePolicy(ctx context.Context, p *apitypes.DeploymentPolicy) (*apitypes.DeploymentPolicy, error) {
	var out apitypes.DeploymentPolicy
	if err := c.do(ctx, http.MethodPut, "/v1/policies/"+esc(p.Name), nil, p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeletePolicy deletes a policy that no endpoint uses.
func (c *Client) DeletePolicy(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/policies/"+esc(name), nil, nil, nil)
}

// CreateEndpoint creates an endpoint.
func (c *Client) CreateEndpoint(ctx context.Context, e *apitypes.Endpoint) (*apitypes.Endpoint, error) {
	var out apitypes.Endpoint
	if err := c.do(ctx, http.MethodPost, "/v1/endpoints", nil, e, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetEndpoint reads an endpoint with its status.
func (c *Client) GetEndpoint(ctx context.Context, name string) (*apitypes.Endpoint, error) {
	var out apitypes.Endpoint
	if err := c.do(ctx, http.MethodGet, "/v1/endpoints/"+esc(name), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// EndpointListOptions narrows ListEndpoints.
type EndpointListOptions struct {
	Labels map[string]string
}

// ListEndpoints lists endpoints by name.
func (c *Client) ListEndpoints(ctx context.Context, opts EndpointListOptions) ([]apitypes.Endpoint, error) {
	q := url.Values{}
	labelQuery(q, opts.Labels)
	var out apitypes.EndpointList
	if err := c.do(ctx, http.MethodGet, "/v1/endpoints", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// UpdateEndpoint replaces an endpoint's desired state; e.Revision must be
// the revision last read.
func (c *Client) UpdateEndpoint(ctx context.Context, e *apitypes.Endpoint) (*apitypes.Endpoint, error) {
	var out apitypes.Endpoint
	if err := c.do(ctx, http.MethodPut, "/v1/endpoints/"+esc(e.Name), nil, e, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteEndpoint deletes an endpoint.
func (c *Client) DeleteEndpoint(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/endpoints/"+esc(name), nil, nil, nil)
}

// AuditListOptions narrows ListAuditEvents.
type AuditListOptions struct {
	ObjectType string
	ObjectID   string
	AfterSeq   int64
	Limit      int
}

// ListAuditEvents lists ledger events in ascending order.
func (c *Client) ListAuditEvents(ctx context.Context, opts AuditListOptions) ([]apitypes.AuditEvent, error) {
	q := url.Values{}
	if opts.ObjectType != "" {
		q.Set("object_type", opts.ObjectType)
	}
	if opts.ObjectID != "" {
		q.Set("object_id", opts.ObjectID)
	}
	if opts.AfterSeq > 0 {
		q.Set("after", strconv.FormatInt(opts.AfterSeq, 10))
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var out apitypes.AuditList
	if err := c.do(ctx, http.MethodGet, "/v1/audit", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// VerifyAudit asks the server to verify the ledger's hash chain.
func (c *Client) VerifyAudit(ctx context.Context) (*apitypes.AuditVerify, error) {
	var out apitypes.AuditVerify
	if err := c.do(ctx, http.MethodGet, "/v1/audit/verify", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateToken mints a token; the answer carries its secret, once.
func (c *Client) CreateToken(ctx context.Context, t *apitypes.TokenCreate) (*apitypes.Token, error) {
	var out apitypes.Token
	if err := c.do(ctx, http.MethodPost, "/v1/tokens", nil, t, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListTokens lists tokens without their secrets.
func (c *Client) ListTokens(ctx context.Context) ([]apitypes.Token, error) {
	var out apitypes.TokenList
	if err := c.do(ctx, http.MethodGet, "/v1/tokens", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// DeleteToken revokes a token.
func (c *Client) DeleteToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/tokens/"+esc(id), nil, nil, nil)
}
