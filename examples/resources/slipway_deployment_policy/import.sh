# A deployment policy is imported by its name.
terraform import slipway_deployment_policy.safe safe
