#!/usr/bin/env bash
# make demo: start a local slipway server with the embedded SQLite store,
# apply examples/quickstart with the pinned OpenTofu, and show what it did.
# DEMO_KEEP=1 leaves the server running afterwards.
set -euo pipefail
: "${TOFU:?}" "${BIN:?}"
root=$(cd "$(dirname "$0")/.." && pwd)
qs=$root/examples/quickstart
listen=${SLIPWAY_LISTEN:-127.0.0.1:8470}
gateway=${SLIPWAY_GATEWAY_LISTEN:-127.0.0.1:8471}
unset TF_CLI_CONFIG_FILE TF_CLI_CONFIG_PATH SLIPWAY_TOKEN
export SLIPWAY_ADDR=http://$listen

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# A clean slate each run, so the demo shows a first deployment.
cd "$qs"
rm -rf .slipway .terraform .terraform.lock.hcl terraform.tfstate terraform.tfstate.backup
mkdir -p .slipway

step "generating a real ONNX model (linear, 4 inputs, opset 13)"
(cd "$root" && go run ./internal/onnxmodel/cmd/genmodel -out "$qs/model.onnx")

step "starting slipway server on $listen (gateway $gateway), data in examples/quickstart/.slipway"
if curl -fsS "$SLIPWAY_ADDR/healthz" >/dev/null 2>&1; then
	echo "something already answers on $listen; stop it or set SLIPWAY_LISTEN" >&2
	exit 1
fi
"$BIN/slipway" server --data-dir .slipway/data --listen "$listen" --gateway-listen "$gateway" >.slipway/server.log 2>&1 &
server_pid=$!
cleanup() {
	if [ "${DEMO_KEEP:-}" = 1 ]; then
		echo "server left running (pid $server_pid); stop it with: kill $server_pid"
	else
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT
for _ in $(seq 100); do
	curl -fsS "$SLIPWAY_ADDR/healthz" >/dev/null 2>&1 && break
	kill -0 "$server_pid" 2>/dev/null || { cat .slipway/server.log >&2; exit 1; }
	sleep 0.1
done
cat .slipway/server.log
SLIPWAY_TOKEN=$(cat .slipway/data/admin.token)
export SLIPWAY_TOKEN

step "tofu init (provider from this checkout) and apply"
plat=$(go env GOOS)_$(go env GOARCH)
pdir=.slipway/plugins/registry.opentofu.org/slipwayhq/slipway/0.0.1/$plat
mkdir -p "$pdir"
cp "$BIN/terraform-provider-slipway" "$pdir/"
"$TOFU" init -input=false -plugin-dir=.slipway/plugins >/dev/null
"$TOFU" apply -input=false -auto-approve

step "a live prediction through the endpoint's URL (x = [1, 1, 1, 1]; the model computes x·[1,2,3,4] + 0.5 = 10.5)"
url=$("$TOFU" output -raw endpoint_url)
echo "POST $url/infer"
curl -fsS -X POST "$url/infer" -H 'Content-Type: application/json' \
	-d '{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,1,1,1]}]}'
echo

step "the endpoint, as the control plane reports it"
"$BIN/slipway" endpoints get fraud

step "the ledger: every change, who made it and from where"
"$BIN/slipway" audit list
"$BIN/slipway" audit verify

step "a second plan is empty"
"$TOFU" plan -input=false -detailed-exitcode >/dev/null && echo "No changes: state matches the server."
