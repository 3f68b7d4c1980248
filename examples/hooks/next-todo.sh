#!/bin/sh
# next-todo: a pre_round hook that hands the agent the first open item of TODO.md.
#
#   [hooks.next-todo]
#   on = "pre_round"
#   command = ["./hooks/next-todo.sh"]
#   timeout_s = 10
#
#   [runtime]
#   context = "prepend"        # or "file": the agent sees hook context in its context block
#
# It reads the first unchecked item (`- [ ] ...` or `* [ ] ...`) of $TODO_FILE (default
# TODO.md, relative to the work dir) and answers {"context": {"next_task": "..."}}.
#
# Why context and not a new prompt: the prompt stays the operator's file (no
# prompt_overwritten every round, other pre_round hooks still see it), and the task shows up
# in the agent's context block next to the last round's outcome. The agent ticks the item
# off (`- [x]`) when done; the next round then gets the next one.
#
# Nothing left (or no TODO.md): it answers {"context": {"next_task": null}}, which removes
# the field, so the agent is not handed a task it already finished. Exit 0 either way: an
# empty TODO list is no failure (a failing pre_round hook skips the round).
set -u
cat > /dev/null  # the input is not needed
file=${TODO_FILE:-TODO.md}
task=''
if [ -r "$file" ]; then
  task=$(tr -d '\r' < "$file" | sed -n 's/^[[:space:]]*[-*][[:space:]][[:space:]]*\[ \][[:space:]][[:space:]]*//p' | head -n 1)
fi
if [ -z "$task" ]; then
  echo "next-todo: no open item in $file" >&2
  echo '{"context": {"next_task": null}}'
  exit 0
fi
# A JSON string: backslashes and quotes escaped, control characters dropped, at most 500 bytes.
json=$(printf '%s' "$task" | tr -d '\000-\037' | cut -c 1-500 | sed 's/\\/\\\\/g; s/"/\\"/g')
echo "next-todo: next task: $task" >&2
printf '{"context": {"next_task": "%s"}}\n' "$json"
