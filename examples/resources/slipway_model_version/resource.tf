# A model served by Slipway's builtin ONNX runtime. The server fetches the
# artifact, checks it against sha256 and refuses a mismatch.
resource "slipway_model_version" "v1" {
  model        = "fraud"
  version      = "1"
  artifact_uri = "file://${abspath("model.onnx")}"
  sha256       = filesha256("model.onnx")
  format       = "onnx"                  # onnx | lightgbm | xgboost | custom
  runtime      = { kind = "builtin" }    # builtin | process | external
  labels       = { stage = "candidate" } # labels and description change in place
  metadata     = { git_sha = "abc123" }  # anything else registers a new version
}

# Any HTTP model server, started once per replica. "{port}" and "{model_path}"
# are replaced with the replica's port and the verified artifact's path.
resource "slipway_model_version" "torch" {
  model        = "churn"
  version      = "3"
  artifact_uri = "https://models.example.com/churn/3/model.pt"
  sha256       = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
  format       = "custom"
  runtime = {
    kind           = "process"
    command        = ["python3", "-m", "churn_server", "--port", "{port}", "--model", "{model_path}"]
    env            = { OMP_NUM_THREADS = "2" }
    readiness_path = "/v2/health/ready"
  }
  description = "Churn model, served by the team's PyTorch server"
}

# A model server Slipway does not run: no artifact, traffic goes to url.
resource "slipway_model_version" "vendor" {
  model   = "ranker"
  version = "2024-06-01"
  format  = "custom"
  runtime = {
    kind           = "external"
    url            = "https://ranker.internal.example.com"
    readiness_path = "/health"
  }
}
