#!/usr/bin/env bash
# Installs the pinned tchannel-node / ringpop-node environment used by the
# interop tests into interop/node/node_modules (see docs/interop.md).
#
# Idempotent: when node_modules already matches package.json, package-lock.json,
# the metrics stub and the running node's ABI, it exits at once.
# Offline apart from the npm registry: native addons are compiled against the
# node headers installed with node itself (npm_config_nodedir), never downloaded.
#
# Usage: interop/node/setup.sh [--force]
# Exit status: 0 when the environment is ready, non-zero with a message otherwise.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

force=0
if [[ "${1:-}" == "--force" ]]; then
    force=1
fi

die() {
    echo "interop/node/setup.sh: error: $*" >&2
    exit 1
}

note() {
    echo "interop/node/setup.sh: $*" >&2
}

command -v node >/dev/null 2>&1 || die "node is not on PATH (node >= 18 is required)"
command -v npm >/dev/null 2>&1 || die "npm is not on PATH"

read -r node_major node_abi < <(
    node -p '[process.versions.node.split(".")[0], process.versions.modules + "-" + process.arch + "-" + process.platform].join(" ")'
)
if ((node_major < 18)); then
    die "node >= 18 is required, found $(node --version)"
fi

# Serialise concurrent runs (parallel test processes, two shells) on one lock.
lock_file="$here/.setup.lock"
if command -v flock >/dev/null 2>&1 && [[ -z "${RINGPOP_INTEROP_SETUP_LOCKED:-}" ]]; then
    exec 9>"$lock_file"
    flock -w 900 9 || die "timed out after 900 s waiting for $lock_file"
    export RINGPOP_INTEROP_SETUP_LOCKED=1
fi

stamp_file="node_modules/.ringpop-interop-stamp"

compute_stamp() {
    {
        echo "node-abi $node_abi"
        cat package.json package-lock.json
        cat metrics-stub/package.json metrics-stub/index.js
    } | sha256sum | cut -d' ' -f1
}

[[ -f package-lock.json ]] || die "package-lock.json is missing: it must be committed next to package.json"
want_stamp="$(compute_stamp)"

if ((force == 0)) && [[ -f "$stamp_file" ]] && [[ "$(cat "$stamp_file")" == "$want_stamp" ]]; then
    exit 0
fi

# --- Toolchain for the native addons (farmhash, sse4_crc32) ------------------
# Only installed when missing, and only where apt-get can be used (CI is root).
missing_tools=()
for tool in make g++ python3; do
    command -v "$tool" >/dev/null 2>&1 || missing_tools+=("$tool")
done
if ((${#missing_tools[@]} > 0)); then
    if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
        note "installing build tools (missing: ${missing_tools[*]}) with apt-get"
        apt_marker="/var/tmp/ringpop-interop-apt-update.done"
        if [[ ! -f "$apt_marker" ]]; then
            apt-get update -qq || die "apt-get update failed"
            touch "$apt_marker"
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make g++ python3 >/dev/null ||
            die "apt-get install of make g++ python3 failed"
    else
        die "missing build tools: ${missing_tools[*]} (needed to compile farmhash and sse4_crc32)"
    fi
fi

# --- Node headers: node-gyp must not try to download them (no internet) ------
# The node package installs its headers under <prefix>/include/node; the
# Debian libnode-dev package would be for a different node major (ABI
# mismatch), so it is deliberately not used as a fallback.
node_prefix="$(node -p 'require("path").resolve(process.execPath, "..", "..")')"
node_version="$(node -p 'process.versions.node')"
nodedir=""
for candidate in \
    "${npm_config_nodedir:-}" \
    "$node_prefix" \
    /usr \
    /usr/local \
    "$HOME/.cache/node-gyp/$node_version"; do
    if [[ -n "$candidate" && -f "$candidate/include/node/node.h" && -f "$candidate/include/node/common.gypi" ]]; then
        header_version="$(
            sed -n 's/^#define NODE_\(MAJOR\|MINOR\|PATCH\)_VERSION \([0-9]*\).*/\2/p' \
                "$candidate/include/node/node_version.h" | paste -sd. -
        )"
        if [[ "$header_version" == "$node_version" ]]; then
            nodedir="$candidate"
            break
        fi
    fi
done
[[ -n "$nodedir" ]] || die "no headers for node $node_version found (looked for include/node/node.h under \
$node_prefix, /usr, /usr/local and ~/.cache/node-gyp); install the node package that ships them \
(e.g. nodesource's nodejs) or set npm_config_nodedir"
export npm_config_nodedir="$nodedir"

# --- Install -------------------------------------------------------------------
note "installing tchannel-node and ringpop-node into $here/node_modules (npm ci, nodedir=$nodedir)"
log_file="$(mktemp "${TMPDIR:-/tmp}/ringpop-interop-npm.XXXXXX")"
trap 'rm -f "$log_file"' EXIT
start_s="$(date +%s)"
if ! npm ci --no-audit --no-fund --loglevel=warn >"$log_file" 2>&1; then
    cat "$log_file" >&2
    die "npm ci failed (output above)"
fi

# --- Verify that everything the tests use loads, including the native addons.
if ! node -e '
    require("tchannel");
    require("ringpop");
    require("ringpop/main.js");
    var farmhash = require("farmhash");
    if (farmhash.fingerprint32("ringpop") !== farmhash.fingerprint32(Buffer.from("ringpop"))) {
        throw new Error("farmhash fingerprint32 is inconsistent");
    }
    require("sse4_crc32").calculate("ringpop");
    var metrics = require("metrics");
    new metrics.Histogram().printObj();
    new metrics.Meter().printObj();
' >>"$log_file" 2>&1; then
    cat "$log_file" >&2
    die "installed modules do not load (output above)"
fi

echo "$want_stamp" >"$stamp_file"
note "ready in $(($(date +%s) - start_s)) s"
