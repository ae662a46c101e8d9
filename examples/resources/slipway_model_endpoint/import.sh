# A model endpoint is imported by its name.
terraform import slipway_model_endpoint.fraud fraud
