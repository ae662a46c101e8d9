# The last ten deployments of one endpoint, newest first.
data "slipway_deployments" "fraud" {
  endpoint = "fraud"
  limit    = 10
}

# Every deployment still in progress, on any endpoint.
data "slipway_deployments" "running" {
  active = true
}

# What changed, how it went, and why it ended as it did.
output "fraud_history" {
  value = [
    for d in data.slipway_deployments.fraud.deployments : {
      id     = d.id
      change = "${coalesce(d.from_version, "nothing")} -> ${d.to_version}"
      phase  = d.phase  # succeeded, rolled_back, failed, aborted, or still running
      reason = d.reason # e.g. the gate that failed
      source = d.source # terraform, cli or api
      at     = d.created_at
    }
  ]
}

output "running_deployments" {
  value = [for d in data.slipway_deployments.running.deployments : "${d.endpoint}: ${d.phase} step ${d.step}"]
}
