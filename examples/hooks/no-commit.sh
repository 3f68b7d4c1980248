#!/bin/sh
# no-commit: a detector hook (run by the monitor on every poll) that warns when the work
# dir's git HEAD has not moved for N rounds: the agent is busy but nothing lands.
#
#   [hooks.no-commit]
#   on = "detector"
#   command = ["./hooks/no-commit.sh"]
#   timeout_s = 10
#
#   N = $NO_COMMIT_ROUNDS (default 10), e.g. in [agent.env]: NO_COMMIT_ROUNDS = "5"
#
# It answers {"alerts": [{"key": "no-commit", "severity": "warning", ...}]} while HEAD stands
# still, and no alert once HEAD moves: the monitor then clears the alert (and notifies the
# recovery). Before the first round, or outside a git work tree, it answers nothing.
#
# State: one line "<HEAD sha> <round>" — the HEAD and the round it was first seen at — in
# .git/agent-runner-no-commit (`git rev-parse --git-path`). In the git dir, because it is
# outside the work tree (it never makes the tree dirty, is never stashed or committed), per
# work tree, kept across monitor restarts, and gone with the clone. The hook gets the round
# (`round` of its input, the latest round) but no memory: the file is its memory.
set -u
input=$(cat)
rounds=${NO_COMMIT_ROUNDS:-10}
case "$rounds" in '' | *[!0-9]*) echo "no-commit: NO_COMMIT_ROUNDS=$rounds is not a number" >&2; exit 2 ;; esac
# The top-level "round" comes first in the document (previous_round.round comes after it);
# null before the first round.
round=$(printf '%s' "$input" | grep -o '"round":[0-9]*' | head -n 1 | cut -d: -f2)
[ -n "$round" ] || exit 0
head=$(git rev-parse -q --verify HEAD 2>/dev/null) || exit 0
state=$(git rev-parse --git-path agent-runner-no-commit) || exit 0
saved_head=''
saved_round=''
[ -r "$state" ] && read -r saved_head saved_round < "$state"
case "$saved_round" in '' | *[!0-9]*) saved_round='' ;; esac
if [ "$head" != "$saved_head" ] || [ -z "$saved_round" ] || [ "$round" -lt "$saved_round" ]; then
  # HEAD moved (or first look, or the rounds were renumbered by a new ledger): start counting.
  printf '%s %s\n' "$head" "$round" > "$state.tmp" && mv "$state.tmp" "$state"
  exit 0
fi
since=$((round - saved_round))
[ "$since" -ge "$rounds" ] || exit 0
short=$(printf '%s' "$head" | cut -c 1-12)
echo "no-commit: HEAD $short unchanged since round $saved_round ($since rounds)" >&2
printf '{"alerts": [{"key": "no-commit", "severity": "warning", "title": "no commit for %s rounds", "body": "HEAD is still %s, as at round %s (now round %s). The agent runs but nothing lands: read the last rounds (agent-runner peek --round latest --log) and the prompt."}]}\n' "$since" "$short" "$saved_round" "$round"
