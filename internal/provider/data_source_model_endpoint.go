package provider

import "github.com/hashicorp/terraform-plugin-framework/datasource"

// NewModelEndpointDataSource is a placeholder; see stub.go.
func NewModelEndpointDataSource() datasource.DataSource { return &stubDataSource{"model_endpoint"} }
