package provider

import "github.com/hashicorp/terraform-plugin-framework/resource"

// NewDeploymentPolicyResource is a placeholder; see stub.go.
func NewDeploymentPolicyResource() resource.Resource { return &stubResource{"deployment_policy"} }
