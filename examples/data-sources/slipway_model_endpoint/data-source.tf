# An endpoint managed elsewhere, for its URL and what it serves right now.
data "slipway_model_endpoint" "fraud" {
  name = "fraud"
}

output "fraud_url" {
  value = data.slipway_model_endpoint.fraud.url
}

output "fraud_live_traffic" {
  value = data.slipway_model_endpoint.fraud.status.traffic
}
