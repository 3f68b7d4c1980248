#!/usr/bin/env bash
# The main job on a bundled demo project, no accounts needed: creates a scratch git repository
# with the demo agent, runs a real `agent-runner serve --max-rounds N` on it, then shows what
# an operator sees afterwards: peek, the event stream, the ledger and the git history.
#
#   examples/demo/demo.sh [ROUNDS]        (default 5; DEMO_DIR=... to keep the scratch repo)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cli="node $here/../../packages/cli/dist/bin.js"
rounds=${1:-5}
dir=${DEMO_DIR:-$(mktemp -d /tmp/agent-runner-demo.XXXXXX)}

mkdir -p "$dir"
cd "$dir"
if [ ! -d .git ]; then
  git init -q -b main
  cp "$here/demo-agent.mjs" "$here/agent-runner.toml" "$here/PROMPT.md" .
  printf '# Notes\n' > NOTES.md
  printf '/.state/\n' > .gitignore
  git add -A
  git -c user.name=demo -c user.email=demo@localhost commit -q -m 'demo project'
fi

echo "== agent-runner serve --max-rounds $rounds   (in $dir)"
status=0
$cli serve --max-rounds "$rounds" || status=$?
echo "== serve exited with $status"
echo
echo "== agent-runner peek"
$cli peek
echo
echo "== agent-runner events --kind round_end --json | jq -c '{round, classification, exit_code, duration_s}'"
$cli events --kind round_end --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const l of s.split("\n").filter(Boolean)){const e=JSON.parse(l);console.log(JSON.stringify({round:e.round,classification:e.classification,exit_code:e.exit_code,duration_s:e.duration_s}))}})'
echo
echo "== git log --oneline   and   git stash list (work the demo agent forgot to commit)"
git log --oneline | head -10
git stash list
echo
echo "state: $dir/.state   (ledger: .state/ledger.sqlite3, events: .state/logs/events/)"
exit "$status"
