# Shared by the npm scripts: install what the project needs on a fresh Debian machine with Node 20.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

need_node() {
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$major" -lt 20 ]; then
    echo "Flotilla needs Node.js 20 or newer; this is $(node --version)." >&2
    exit 1
  fi
}

# need_debs PKG...: installs the Debian packages that are missing (as root), or says which to install.
need_debs() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: ${missing[*]}. Install them as root: apt-get install ${missing[*]}" >&2
    return 1
  fi
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# npm dependencies, only when package-lock.json changed since the last install.
need_npm() {
  cd "$ROOT"
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm dependencies"
    # npm install, not npm ci: this npm leaves other platforms' optional binaries (turbo, biome) out of the
    # lock file, and npm ci then refuses it as out of sync.
    npm install --no-audit --no-fund --loglevel=error
  fi
}

build() {
  cd "$ROOT"
  say "building (turbo: generate → build)"
  npx --no-install turbo run build --output-logs=errors-only
}

setup() {
  need_node
  # containerd's API definitions: the agent's containerd client is generated from them at build time.
  need_debs golang-github-containerd-containerd-dev golang-github-gogo-protobuf-dev golang-github-gogo-googleapis-dev
  need_npm
  build
}
