# The quick start: one model version, one deployment policy, one endpoint.
# `make demo` generates model.onnx here, starts a local slipway server and
# applies this configuration.
terraform {
  required_providers {
    slipway = {
      source = "slipwayhq/slipway"
    }
  }
}

# address: SLIPWAY_ADDR (default http://127.0.0.1:8470); token: SLIPWAY_TOKEN
provider "slipway" {}

resource "slipway_model_version" "v1" {
  model        = "fraud"
  version      = "1"
  artifact_uri = "file://${abspath("model.onnx")}"
  sha256       = filesha256("model.onnx")
  format       = "onnx"
  runtime      = { kind = "builtin" }
  labels       = { stage = "candidate" }
  metadata     = { git_sha = "abc123" }
}

resource "slipway_deployment_policy" "safe" {
  name     = "safe"
  strategy = "canary"
  steps    = [{ traffic_percent = 10, bake = "30s" }, { traffic_percent = 50, bake = "30s" }]
  analysis = { interval = "5s", min_requests = 20, max_error_rate = 0.01, max_latency_p99 = "250ms" }
  rollback = { automatic = true }
}

resource "slipway_model_endpoint" "fraud" {
  name              = "fraud"
  model_version     = slipway_model_version.v1.id
  deployment_policy = slipway_deployment_policy.safe.name
  replicas          = { min = 1, max = 2 }
}

output "endpoint_url" {
  description = "POST an Open Inference Protocol v2 request to <url>/infer."
  value       = slipway_model_endpoint.fraud.url
}
