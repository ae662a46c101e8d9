package provider

import "github.com/hashicorp/terraform-plugin-framework/datasource"

// NewAuditEventsDataSource is a placeholder; see stub.go.
func NewAuditEventsDataSource() datasource.DataSource { return &stubDataSource{"audit_events"} }
