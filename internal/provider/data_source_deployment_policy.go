package provider

import "github.com/hashicorp/terraform-plugin-framework/datasource"

// NewDeploymentPolicyDataSource is a placeholder; see stub.go.
func NewDeploymentPolicyDataSource() datasource.DataSource {
	return &stubDataSource{"deployment_policy"}
}
