# Canary: 10 % then 50 % of the traffic, each held for 30 s while the
# analysis gate watches error rate and p99 latency; a failed gate rolls back.
resource "slipway_deployment_policy" "safe" {
  name     = "safe"
  strategy = "canary"
  steps    = [{ traffic_percent = 10, bake = "30s" }, { traffic_percent = 50, bake = "30s" }]
  analysis = { interval = "5s", min_requests = 20, max_error_rate = 0.01, max_latency_p99 = "250ms" }
  rollback = { automatic = true }
}

# Linear: 20 % more traffic every minute, compared with the version serving
# before; a person promotes the last step.
resource "slipway_deployment_policy" "gradual" {
  name                = "gradual"
  description         = "High-risk models: slow rollout, human approval."
  strategy            = "linear"
  linear              = { step_percent = 20, interval = "1m" }
  analysis            = { min_requests = 100, max_error_rate = 0.005, max_regression = 0.2 }
  rollback            = { automatic = true }
  approval            = { required = true }
  risk_tier           = "high"
  lead_time_objective = "72h"
}

# Blue/green after a shadow phase and a smoke test with a known answer.
resource "slipway_deployment_policy" "switch" {
  name       = "switch"
  strategy   = "blue_green"
  blue_green = { termination_wait = "10m" }
  shadow     = { traffic_percent = 25, duration = "5m" }
  smoke_test = {
    requests = [{
      name           = "known-answer"
      body           = jsonencode({ inputs = [{ name = "x", shape = [1, 4], datatype = "FP32", data = [1, 2, 3, 4] }] })
      expect_outputs = [14.5]
      tolerance      = 0.0001
    }]
  }
  rollback = {}
}
