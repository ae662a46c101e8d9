# One version by its ID.
data "slipway_model_version" "pinned" {
  id = "fraud/7"
}

# The newest version of a model that carries the given labels.
data "slipway_model_version" "production" {
  model  = "fraud"
  labels = { stage = "prod" }
}

output "production_fraud_version" {
  value = data.slipway_model_version.production.id
}
