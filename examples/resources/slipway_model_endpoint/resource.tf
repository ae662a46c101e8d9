# A stable inference URL serving one model version. Pointing model_version at
# a new version deploys it according to the policy (the plan warns what
# rollout that will be); without a policy the switch happens at once. Apply
# waits until the deployment ends and the new version serves with ready
# replicas. If it is rolled back or fails, traffic stays on the old version,
# apply fails with the reason, and the next plan proposes the change again.
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

# A slow canary applied from CI: apply returns as soon as the deployment has
# started; `slipway deployments watch <deployment_id>` follows it, and later
# refreshes show its progress in status.
resource "slipway_model_endpoint" "search" {
  name              = "search"
  model_version     = "search/3"
  deployment_policy = slipway_deployment_policy.gradual.name
  wait_for_rollout  = false
}

output "search_deployment_id" {
  value = slipway_model_endpoint.search.deployment_id
}

# Clients send Open Inference Protocol v2 requests to "${url}/infer".
output "fraud_infer_url" {
  value = "${slipway_model_endpoint.fraud.url}/infer"
}
