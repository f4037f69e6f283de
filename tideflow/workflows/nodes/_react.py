"""The ReAct strategy's text protocol: the prompt that teaches it, and reading the model's reply.

The model writes ``Thought:``, then either ``Action:`` with a JSON ``{"action": name,
"action_input": {...}}`` (in a code fence or bare) or ``Final Answer:``. Tool results come back
as ``Observation:`` messages (Dify's ReAct agent uses the same protocol).
"""

from __future__ import annotations

import json
import re
from typing import Any

from tideflow.workflows.nodes._common import as_dict

_PROMPT = """Respond to the human as helpfully and accurately as possible.

{instruction}

You have access to the following tools:

{tools}

Use a json blob to specify a tool by providing an action key (tool name) and an action_input
key (tool input). Valid "action" values: "Final Answer" or {names}

Provide only ONE action per $JSON_BLOB, as shown:

```
{{
  "action": $TOOL_NAME,
  "action_input": $ACTION_INPUT
}}
```

Follow this format:

Question: input question to answer
Thought: consider previous and subsequent steps
Action:
```
$JSON_BLOB
```
Observation: action result
... (repeat Thought/Action/Observation N times)
Thought: I know what to respond
Action:
```
{{
  "action": "Final Answer",
  "action_input": "Final response to human"
}}
```

Begin! Reminder to ALWAYS respond with a valid json blob of a single action. Use tools if
necessary. Respond directly if appropriate. Format is Action:```$JSON_BLOB```then Observation:.
"""

_FENCED = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)
_BARE = re.compile(r"Action:\s*(\{.*\})", re.DOTALL)
_FINAL = re.compile(r"Final Answer:\s*(.*)", re.DOTALL)


def system_prompt(instruction: str, functions: list[dict[str, Any]]) -> str:
    """The ReAct system prompt listing the tools (their OpenAI function definitions)."""
    tools = "\n".join(json.dumps(as_dict(f.get("function")), ensure_ascii=False) for f in functions)
    names = ", ".join(json.dumps(str(as_dict(f.get("function")).get("name"))) for f in functions)
    return _PROMPT.format(instruction=instruction, tools=tools or "(none)", names=names)


# Replies longer than this are read from their first characters only: the patterns backtrack,
# and this runs in workflow code, where a slow task is a stuck one.
MAX_PARSED_CHARS = 8_000


def _action(text: str) -> dict[str, Any] | None:
    text = text[:MAX_PARSED_CHARS]
    match = _FENCED.search(text) or _BARE.search(text)
    if match is None:
        return None
    try:
        parsed: Any = json.loads(match.group(1))
    except ValueError:
        return None
    action = as_dict(parsed)
    return action if "action" in action else None


def calls(text: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The tool call the reply asks for: ``[(call id, tool name, arguments)]``, or none when it
    answers (``Final Answer``) or holds no action."""
    action = _action(text)
    if action is None or action.get("action") == "Final Answer":
        return []
    raw = action.get("action_input")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = {"input": raw}
    return [("", str(action["action"]), as_dict(raw))]


def final_answer(text: str) -> str:
    """The answer in a reply: the Final Answer action's input, a ``Final Answer:`` line's
    text, or the whole reply when it follows no format."""
    action = _action(text)
    if action is not None and action.get("action") == "Final Answer":
        value = action.get("action_input")
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    match = _FINAL.search(text[:MAX_PARSED_CHARS])
    if match is None:
        return text.strip()
    return (match.group(1) + text[MAX_PARSED_CHARS:]).strip()
