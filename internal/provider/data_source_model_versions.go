package provider

import "github.com/hashicorp/terraform-plugin-framework/datasource"

// NewModelVersionsDataSource is a placeholder; see stub.go.
func NewModelVersionsDataSource() datasource.DataSource { return &stubDataSource{"model_versions"} }
