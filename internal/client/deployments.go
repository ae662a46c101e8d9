package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// DeploymentListOptions narrows ListDeployments.
type DeploymentListOptions struct {
	Endpoint string
	Active   bool // only deployments that have not finished
	Limit    int  // 0 = all
}

// ListDeployments lists deployments, newest first.
func (c *Client) ListDeployments(ctx context.Context, opts DeploymentListOptions) ([]apitypes.Deployment, error) {
	q := url.Values{}
	if opts.Endpoint != "" {
		q.Set("endpoint", opts.Endpoint)
	}
	if opts.Active {
		q.Set("active", "true")
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var out apitypes.DeploymentList
	if err := c.do(ctx, http.MethodGet, "/v1/deployments", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// GetDeployment reads one deployment with its events.
func (c *Client) GetDeployment(ctx context.Context, id string) (*apitypes.Deployment, error) {
	var out apitypes.Deployment
	if err := c.do(ctx, http.MethodGet, "/v1/deployments/"+esc(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PromoteDeployment lets a deployment awaiting approval go to full traffic.
// The answer is the deployment once the rollout engine has taken the
// command, which it may carry out after.
func (c *Client) PromoteDeployment(ctx context.Context, id string) (*apitypes.Deployment, error) {
	return c.commandDeployment(ctx, id, "promote")
}

// AbortDeployment stops a deployment that has not finished; traffic goes
// back to what served before.
func (c *Client) AbortDeployment(ctx context.Context, id string) (*apitypes.Deployment, error) {
	return c.commandDeployment(ctx, id, "abort")
}

func (c *Client) commandDeployment(ctx context.Context, id, command string) (*apitypes.Deployment, error) {
	var out apitypes.Deployment
	if err := c.do(ctx, http.MethodPost, "/v1/deployments/"+esc(id)+"/"+command, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// KeyMeasures reads the delivery key measures of one endpoint, or of every
// endpoint when endpoint is "".
func (c *Client) KeyMeasures(ctx context.Context, endpoint string) (*apitypes.KeyMeasures, error) {
	q := url.Values{}
	if endpoint != "" {
		q.Set("endpoint", endpoint)
	}
	var out apitypes.KeyMeasures
	if err := c.do(ctx, http.MethodGet, "/v1/measures", q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
