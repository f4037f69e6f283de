"""Agent: a model that calls tools until it can answer (Dify's agent plugin strategies).

``agent_parameters`` (each ``{type: mixed|variable|constant, value}``): ``model`` (a model
selector), ``tools`` (tool selectors: provider_name/provider_id, provider_type, tool_name,
parameters, enabled), ``instruction``, ``query``, ``maximum_iterations``. Strategies:
``function_calling`` (the model's tool calls) and ``ReAct`` (Thought / Action / Action Input /
Observation in text, ``_react``).

Durable by construction: every model step is an ``llm_invoke`` activity and every tool call a
``tool_invoke`` activity, each recorded in the run's history, so a worker that dies mid-way
is replaced by one that replays the finished steps from history and repeats none of them.
Each round and each tool call is an ``agent_log`` event; outputs are ``text``, ``usage``,
``files`` and ``json`` (the log).
"""

from __future__ import annotations

import json
from typing import Any

from tideflow.activities.llm.models import LlmMessage, LlmResult
from tideflow.workflows.engine.context import JSON_OBJECT, NodeContext, NodeResult
from tideflow.workflows.engine.errors import NodeError
from tideflow.workflows.nodes import _agent_params as _params
from tideflow.workflows.nodes import _react
from tideflow.workflows.nodes._common import as_dict, as_list
from tideflow.workflows.nodes._llm_common import invoke, llm_request
from tideflow.workflows.nodes._llm_memory import history_messages, history_turns, memory_of
from tideflow.workflows.nodes.spec import ConfigProblems, NodeSpec
from tideflow.workflows.nodes.tool import invoke_tool

DESCRIBE_TOOLS_ACTIVITY = "describe_agent_tools"
FUNCTION_CALLING = ("function_calling", "function_call")
REACT = ("ReAct", "react")


def validate(data: dict[str, Any]) -> ConfigProblems:
    """Agent parameters are an object of typed values."""
    params = data.get("agent_parameters")
    if params is not None and not isinstance(params, dict):
        return [("agent_parameters", "expected an object of {type, value} entries")]
    return []


def run_requirements(data: dict[str, Any]) -> ConfigProblems:
    """A strategy we run, a model to run it with, and installed tools (checked in the API
    process: workflow code cannot read the plugin registry; at run time the
    ``describe_agent_tools`` activity names a missing tool)."""
    problems = _strategy_and_model(data)
    tools = as_dict(as_dict(data.get("agent_parameters")).get("tools"))
    if tools.get("type") in (None, "constant"):
        problems += _params.missing_tools([as_dict(t) for t in as_list(tools.get("value"))])
    return problems


def _strategy_and_model(data: dict[str, Any]) -> ConfigProblems:
    problems: ConfigProblems = []
    strategy = str(data.get("agent_strategy_name") or "")
    if strategy not in (*FUNCTION_CALLING, *REACT):
        provider = data.get("agent_strategy_provider_name") or "?"
        problems.append(
            (
                "agent_strategy_name",
                f"agent strategy {strategy or '(none)'} of plugin {provider} is not available; "
                "Tideflow runs function_calling and ReAct",
            )
        )
    params = as_dict(data.get("agent_parameters"))
    model = as_dict(as_dict(params.get("model")).get("value"))
    if not model.get("provider") or not model.get("model"):
        problems.append(("agent_parameters.model", "choose a model"))
    return problems


class _Log:
    """The agent's log: ``agent_log`` events as they happen, and the ``json`` output."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.entries: list[dict[str, Any]] = []

    def add(self, label: str, data: dict[str, Any], parent: str | None = None) -> str:
        entry_id = self.ctx.state.executor.new_id()
        entry = {
            "node_execution_id": self.ctx.run.id,
            "id": entry_id,
            "label": label,
            "parent_id": parent,
            "error": None,
            "status": "success",
            "data": data,
            "metadata": {},
            "node_id": self.ctx.node.id,
        }
        self.entries.append(entry)
        fields = {k: v for k, v in entry.items() if k != "node_id"}  # the event's own node id
        self.ctx.state.recorder.emit("agent_log", self.ctx.node.id, **fields)
        return entry_id


async def _call_tool(
    ctx: NodeContext, selector: dict[str, Any], arguments: dict[str, Any], key: str
) -> dict[str, Any]:
    request = {
        "tenant_id": ctx.state.tenant_id,
        "node_id": ctx.node.id,
        "provider_id": _params.provider_of(selector),
        "provider_name": str(selector.get("provider_name") or ""),
        "provider_type": str(selector.get("provider_type") or selector.get("type") or "builtin"),
        "tool_name": str(selector["tool_name"]),
        "parameters": {**arguments, **as_dict(selector.get("fixed"))},
        "configurations": _params.unwrapped(as_dict(selector.get("settings"))),
        "max_attempts": ctx.max_attempts,
    }
    return await invoke_tool(ctx, request, f"{ctx.run.id}.{ctx.run.attempts}:{key}")


def _observation(result: dict[str, Any]) -> str:
    text = str(result.get("text") or "")
    if text:
        return text
    return json.dumps(result.get("json") or [], ensure_ascii=False)


async def run(ctx: NodeContext) -> NodeResult:
    """Rounds of model step then tool calls, until the model answers or the rounds run out."""
    strategy = str(ctx.data.get("agent_strategy_name") or "")
    problems = _strategy_and_model(ctx.data)
    if problems:
        raise NodeError(f"Node {ctx.node.id}: {problems[0][1]}", "AgentNodeError")
    model, tools = _params.model_of(ctx), _params.tools_of(ctx)
    query = str(_params.parameter(ctx, "query") or "")
    instruction = str(_params.parameter(ctx, "instruction") or "")
    described: dict[str, Any] = {"tools": []}
    if tools:
        described = await ctx.call_activity(
            DESCRIBE_TOOLS_ACTIVITY,
            {"tools": tools, "node_id": ctx.node.id, "tenant_id": ctx.state.tenant_id},
            JSON_OBJECT,
        )
    functions: list[dict[str, Any]] = list(described.get("tools") or [])
    by_name = {str(f["function"]["name"]): tools[i] for i, f in enumerate(functions)}
    react = strategy in REACT
    system = _react.system_prompt(instruction, functions) if react else instruction
    messages: list[LlmMessage] = [LlmMessage(role="system", content=system)] if system else []
    memory = memory_of(ctx.data)
    if memory is not None:
        messages += history_messages(history_turns(ctx, memory))
    messages.append(LlmMessage(role="user", content=query))
    log = _Log(ctx)
    answer, files = "", list[Any]()
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    for round_number in range(1, _params.iterations(ctx) + 1):
        last = round_number == _params.iterations(ctx)
        offer = functions if functions and not react and not last else None
        result: LlmResult = await invoke(ctx, llm_request(ctx, model, messages, tools=offer))
        for key in usage:
            usage[key] += int(getattr(result.usage, key, 0) or 0)
        round_id = log.add(f"ROUND {round_number}", {"output": result.text})
        calls = _react.calls(result.text) if react and not last else _function_calls(result)
        answer = _react.final_answer(result.text) if react else result.text
        if not calls or last:  # the rounds are out: the last reply is the answer
            break
        messages.append(_assistant(result, react))
        for index, (call_id, name, arguments) in enumerate(calls):
            selector = by_name.get(name)
            if selector is None:
                observation = f"there is no tool named {name}"
            elif arguments is None:
                observation = f"tool {name}: the arguments are not a JSON object; call it again"
            else:
                try:
                    key = f"{round_number}.{index}"
                    outcome = await _call_tool(ctx, selector, arguments, key)
                except NodeError as err:
                    # As Dify's agents do: the model reads the error and may try again.
                    observation = f"tool invoke error: {err}"
                else:
                    observation = _observation(outcome)
                    files += as_list(outcome.get("files"))
            log.add(
                f"CALL {name}",
                {"tool_name": name, "tool_input": arguments, "output": observation},
                round_id,
            )
            messages.append(_observation_message(react, call_id, name, observation))
    return NodeResult(
        inputs={
            "query": query,
            "instruction": instruction,
            "tools": [t["tool_name"] for t in tools],
        },
        outputs={"text": answer, "files": files, "json": log.entries, "usage": usage},
        process_data={
            "strategy": strategy,
            "rounds": len([e for e in log.entries if not e["parent_id"]]),
        },
    )


def _function_calls(result: LlmResult) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(call id, tool name, arguments) of the reply's tool calls; arguments that are not a
    JSON object are None (the model is told so)."""
    calls: list[tuple[str, str, dict[str, Any] | None]] = []
    for call in result.tool_calls:
        function = as_dict(call.get("function"))
        try:
            parsed: Any = json.loads(str(function.get("arguments") or "{}"))
        except ValueError:
            parsed = None
        arguments = as_dict(parsed) if isinstance(parsed, dict) else None
        calls.append((str(call.get("id") or ""), str(function.get("name") or ""), arguments))
    return calls


def _assistant(result: LlmResult, react: bool) -> LlmMessage:
    if react:
        return LlmMessage(role="assistant", content=result.text)
    return LlmMessage(role="assistant", content=result.text, tool_calls=result.tool_calls)


def _observation_message(react: bool, call_id: str, name: str, observation: str) -> LlmMessage:
    if react:
        return LlmMessage(role="user", content=f"Observation: {observation}")
    return LlmMessage(role="tool", content=observation, tool_call_id=call_id, name=name)


def _outputs(_data: dict[str, Any]) -> set[str] | None:
    return None  # text, usage, files, json, and whatever the strategy's tools emit


def _mock(_data: dict[str, Any]) -> dict[str, Any]:
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    return {"text": "", "usage": usage, "files": [], "json": []}


SPECS = [
    NodeSpec(
        type="agent",
        validate=validate,
        outputs=_outputs,
        external=True,
        run_requirements=run_requirements,
        mock_outputs=_mock,
    )
]
RUNNERS = {"agent": run}
