# Every change to one endpoint, oldest first.
data "slipway_audit_events" "fraud" {
  object_type = "endpoint"
  object_id   = "fraud"
}

# Which model versions the endpoint was pointed at, by whom and how.
output "fraud_history" {
  value = [
    for e in data.slipway_audit_events.fraud.events : {
      seq    = e.seq
      time   = e.time
      actor  = e.actor
      source = e.source # terraform, cli or api
      action = e.action
      target = e.after == null ? null : jsondecode(e.after).model_version
    }
  ]
}
