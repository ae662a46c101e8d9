package provider

import "github.com/hashicorp/terraform-plugin-framework/datasource"

// NewModelVersionDataSource is a placeholder; see stub.go.
func NewModelVersionDataSource() datasource.DataSource { return &stubDataSource{"model_version"} }
