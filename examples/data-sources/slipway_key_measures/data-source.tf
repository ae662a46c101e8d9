# Delivery measures over the last 90 days, for every endpoint ...
data "slipway_key_measures" "all" {}

# ... and for one.
data "slipway_key_measures" "fraud" {
  endpoint = "fraud"
}

output "delivery" {
  value = {
    deployments_per_day   = data.slipway_key_measures.all.deployments_per_day
    through_terraform_pct = floor(data.slipway_key_measures.all.pipeline_share * 100)
    success_rate_pct      = floor(data.slipway_key_measures.all.success_rate * 100)
    lead_time_hours       = data.slipway_key_measures.all.mean_lead_time_seconds / 3600
    time_to_restore_min   = data.slipway_key_measures.fraud.mean_time_to_restore_seconds / 60
  }
}
