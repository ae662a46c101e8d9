# A model version is imported by its ID, "<model>/<version>".
terraform import slipway_model_version.v1 fraud/1
