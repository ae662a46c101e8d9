package provider

import "github.com/hashicorp/terraform-plugin-framework/resource"

// NewModelEndpointResource is a placeholder; see stub.go.
func NewModelEndpointResource() resource.Resource { return &stubResource{"model_endpoint"} }
