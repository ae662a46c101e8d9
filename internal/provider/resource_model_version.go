package provider

import "github.com/hashicorp/terraform-plugin-framework/resource"

// NewModelVersionResource is a placeholder; see stub.go.
func NewModelVersionResource() resource.Resource { return &stubResource{"model_version"} }
