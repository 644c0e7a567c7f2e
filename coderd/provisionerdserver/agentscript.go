package provisionerdserver

import (
	"strings"
)

// agentInitScriptUnix is the bootstrap the coder provider hands templates as
// coder_agent.init_script (with ${ACCESS_URL} and ${AUTH_TYPE} filled in by
// the provider and ${ARCH}/${OS} by us). It fetches this deployment's agent
// binary with whatever downloader the image has, retrying until coderd
// answers, then execs `coder agent`. Until then SIGTERM ends it (the
// machine is stopping), within the few seconds of a sleep or download.
const agentInitScriptUnix = `#!/bin/sh
set -u
# Often the machine's main process: end on a stop even before the agent
# runs (PID 1 ignores SIGTERM without a handler; exec drops this one).
trap 'echo "Stopped before the agent started." >&2; exit 143' TERM INT
# Coder workspace agent bootstrap.
BINARY_DIR="${BINARY_DIR:-$(mktemp -d -t coder.XXXXXX 2>/dev/null || echo /tmp/coder.$$)}"
mkdir -p "$BINARY_DIR"
BINARY_URL="${ACCESS_URL}bin/coder-${OS}-${ARCH}"
BINARY="$BINARY_DIR/coder"
echo "Downloading the Coder agent from $BINARY_URL"
while :; do
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --compressed "$BINARY_URL" -o "$BINARY" && break
  elif command -v wget >/dev/null 2>&1; then
    wget -q "$BINARY_URL" -O "$BINARY" && break
  elif command -v busybox >/dev/null 2>&1; then
    busybox wget -q "$BINARY_URL" -O "$BINARY" && break
  else
    echo "error: no downloader found: install curl, wget or busybox in the workspace image" >&2
  fi
  echo "Could not reach $BINARY_URL; retrying in 5 seconds..." >&2
  sleep 5
done
chmod +x "$BINARY"
export CODER_AGENT_AUTH="${AUTH_TYPE}"
export CODER_AGENT_URL="${ACCESS_URL}"
exec "$BINARY" agent
`

// AgentInitScripts returns the init script per "<os>_<arch>", the keys of
// the CODER_AGENT_SCRIPT_<os>_<arch> environment variables.
func AgentInitScripts() map[string]string {
	out := map[string]string{}
	for _, osName := range []string{"linux", "darwin"} {
		for _, arch := range []string{"amd64", "arm64", "armv7"} {
			s := strings.ReplaceAll(agentInitScriptUnix, "${OS}", osName)
			out[osName+"_"+arch] = strings.ReplaceAll(s, "${ARCH}", arch)
		}
	}
	return out
}
