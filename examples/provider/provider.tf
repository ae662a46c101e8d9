terraform {
  required_providers {
    slipway = {
      source = "slipwayhq/slipway"
    }
  }
}

# Both settings fall back to the environment: SLIPWAY_ADDR and SLIPWAY_TOKEN.
# Plans and data sources need a reader token; apply needs deployer or admin.
provider "slipway" {
  address = "http://127.0.0.1:8470" # the default for a local `slipway server`
  token   = var.slipway_token
}

variable "slipway_token" {
  type      = string
  sensitive = true
}
