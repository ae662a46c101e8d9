# Every version of a model, oldest first.
data "slipway_model_versions" "fraud" {
  model = "fraud"
}

# Versions of any model that carry the given labels.
data "slipway_model_versions" "candidates" {
  labels = { stage = "candidate" }
}

output "fraud_versions" {
  value = data.slipway_model_versions.fraud.ids
}

output "candidate_digests" {
  value = { for v in data.slipway_model_versions.candidates.versions : v.id => v.sha256 }
}
