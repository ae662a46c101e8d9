# Read a policy another configuration manages and show its strategy.
data "slipway_deployment_policy" "safe" {
  name = "safe"
}

output "safe_strategy" {
  value = data.slipway_deployment_policy.safe.strategy
}
