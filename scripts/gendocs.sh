#!/usr/bin/env bash
# Generate (or check) docs/ with tfplugindocs, offline: tfplugindocs would
# download Terraform to read the schema, so we dump the schema ourselves with
# the pinned OpenTofu and hand it over.
#   scripts/gendocs.sh generate | check
set -euo pipefail
mode=${1:-generate}
: "${TOFU:?TOFU must point at the tofu binary}"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
unset TF_CLI_CONFIG_FILE TF_CLI_CONFIG_PATH

ws=$(mktemp -d)
trap 'rm -rf "$ws"' EXIT
plat=$(go env GOOS)_$(go env GOARCH)
pdir=$ws/plugins/registry.terraform.io/slipwayhq/slipway/0.0.1/$plat
mkdir -p "$pdir"
go build -o "$pdir/terraform-provider-slipway" .
cat > "$ws/main.tf" <<'TF'
terraform {
  required_providers {
    slipway = { source = "registry.terraform.io/slipwayhq/slipway" }
  }
}
TF
"$TOFU" -chdir="$ws" init -backend=false -get=false -plugin-dir=./plugins -input=false >/dev/null
"$TOFU" -chdir="$ws" providers schema -json > "$ws/schema.raw.json"
# tfplugindocs looks the schema up under the hashicorp namespace only.
jq '.provider_schemas |= with_entries(.key = "registry.terraform.io/hashicorp/slipway")' "$ws/schema.raw.json" > "$ws/schema.json"

docs() { go tool tfplugindocs "$@" --provider-name slipway --providers-schema "$ws/schema.json"; }
validate() { docs validate >"$ws/validate.log" 2>&1 || { cat "$ws/validate.log" >&2; echo "tfplugindocs validate failed" >&2; exit 1; }; }

case "$mode" in
generate)
	docs generate --rendered-provider-name Slipway >/dev/null
	validate
	;;
check)
	cp -r docs "$ws/docs.before"
	docs generate --rendered-provider-name Slipway >/dev/null
	if ! diff -ru "$ws/docs.before" docs; then
		cp -r "$ws/docs.before/." docs/
		echo "docs/ is stale: run 'make generate' and commit the result" >&2
		exit 1
	fi
	validate
	echo "docs/ is up to date"
	;;
*)
	echo "usage: $0 generate|check" >&2
	exit 2
	;;
esac
