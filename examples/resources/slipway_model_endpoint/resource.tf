# A stable inference URL serving one model version. Pointing model_version at
# a new version deploys it according to the policy; without a policy the
# switch happens at once. Apply returns once the new version serves with ready
# replicas. If it cannot be served, traffic stays on the old version, apply
# fails with the reason, and the next plan proposes the change again.
resource "slipway_model_endpoint" "fraud" {
  name              = "fraud"
  model_version     = slipway_model_version.v1.id
  deployment_policy = slipway_deployment_policy.safe.name
  replicas          = { min = 1, max = 2 } # target_concurrency defaults to 4
}

# A fixed A/B split: 90 % to the target version, 10 % to the previous one.
# Percentages sum to 100 and the split includes model_version.
resource "slipway_model_endpoint" "ranker" {
  name            = "ranker"
  description     = "Ranking A/B test, owner: search team"
  model_version   = "ranker/8"
  request_timeout = "2s"
  traffic_split = [
    { model_version = "ranker/8", percent = 90 },
    { model_version = "ranker/7", percent = 10 },
  ]
  labels = { team = "search" }

  timeouts = {
    update = "45m" # covers the whole rollout of a slow canary
  }
}

# Clients send Open Inference Protocol v2 requests to "${url}/infer".
output "fraud_infer_url" {
  value = "${slipway_model_endpoint.fraud.url}/infer"
}
