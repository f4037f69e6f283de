"""Dify's graph-less app modes (Chatbot, Text Generator, Agent) as the small graph Tideflow runs.

Those apps carry a ``model_config`` instead of a workflow graph. Every Tideflow app runs as a
graph, so the importer compiles the config into the graph Dify's own app runners amount to:

    chat        start -> [knowledge_retrieval] -> llm (history, sys.query)  -> answer
    completion  start -> [knowledge_retrieval] -> llm (the prompt)          -> answer
    agent-chat  start -> [knowledge_retrieval] -> agent (strategy, tools)   -> answer

The app keeps its mode and its ``model_config``: an export writes the config back, not the graph.
"""

from __future__ import annotations

import itertools
from typing import Any

from tideflow.workflows.graph.errors import Problem, app_problem
from tideflow.workflows.graph.model import as_dict, as_list

MODEL_CONFIG_MODES = {"chat": "Chatbot", "completion": "Text Generator", "agent-chat": "Agent"}

# The model_config keys Dify reads as app features (``/v1/parameters``).
_FEATURE_KEYS = (
    "opening_statement",
    "suggested_questions",
    "suggested_questions_after_answer",
    "speech_to_text",
    "text_to_speech",
    "retriever_resource",
    "annotation_reply",
    "more_like_this",
    "sensitive_word_avoidance",
    "file_upload",
)
# Dify's simple-prompt rules for chat apps (``prompt_templates/common_chat.json``).
_CONTEXT_PROMPT = (
    "Use the following context as your learned knowledge, inside <context></context> XML tags."
    "\n\n<context>\n{{#context#}}\n</context>\n\nWhen answer to user:\n"
    "- If you don't know, just say that you don't know.\n"
    "- If you don't know when you are not sure, ask for clarification.\n"
    "Avoid mentioning that you obtained the information from the context.\n"
    "And answer according to the language of the user's question.\n\n"
)
_HISTORIES_PROMPT = (
    "Here is the chat histories between human and assistant, inside <histories></histories> "
    "XML tags.\n\n<histories>\n{{#histories#}}\n</histories>\n\n"
)
_QUERY_PROMPT = "\n\nHuman: {{#sys.query#}}\n\nAssistant: "
_ROLE_PREFIX = {"user": "Human", "assistant": "Assistant"}
# Chat apps read the conversation's history: Dify keeps up to 500 messages within the model's
# context; Tideflow's history input is capped at 100 turns, so the window says 100.
CHAT_MEMORY_WINDOW = 100
_QUERY = "{{#sys.query#}}"
# Classic agent strategies and the agent-node strategy of Dify's agent plugin that runs them.
_AGENT_PROVIDER = "langgenius/agent/agent"
_STRATEGIES = {"react": ("ReAct", "ReAct"), "react_router": ("ReAct", "ReAct")}
_FUNCTION_CALLING = ("function_calling", "FunctionCalling")
_DEFAULT_MAX_ITERATIONS = 5


def config_features(config: dict[str, Any]) -> dict[str, Any]:
    """The app features a ``model_config`` declares, keyed as a workflow's ``features``."""
    return {key: config[key] for key in _FEATURE_KEYS if key in config}


def config_graph(mode: str, config: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """The ``{nodes, edges}`` graph of an app of ``mode`` and the problems of its config."""
    problems = _config_problems(config)
    variables = form_variables(config.get("user_input_form"))
    names = [str(v["variable"]) for v in variables if v.get("variable")]
    chain: list[dict[str, Any]] = [
        _node("start", "START", {"type": "start", "variables": variables})
    ]
    if mode == "agent-chat":
        worker = _agent_node(config, names)
    else:
        retrieval = _retrieval_node(mode, config)
        if retrieval is not None:
            chain.append(retrieval)
        has_context = retrieval is not None
        worker = _llm_node(mode, config, names, has_context)
        if mode == "completion" and not _llm_has_prompt(worker["data"]):
            text = "the Text Generator has no prompt: write pre_prompt or add a 'query' input"
            problems.append(app_problem("model_config.pre_prompt", text))
    chain.append(worker)
    chain.append(
        _node("answer", "ANSWER", {"type": "answer", "answer": f"{{{{#{worker['id']}.text#}}}}"})
    )
    edges = [
        {"source": a["id"], "target": b["id"], "sourceHandle": "source"}
        for a, b in itertools.pairwise(chain)
    ]
    return {"nodes": chain, "edges": edges}, problems


def form_variables(form: object) -> list[dict[str, Any]]:
    """Start-node variables from Dify's ``user_input_form`` (``[{type: {variable...}}]``).

    External-data-tool entries are not inputs (Dify fills them from an API extension) and are
    left out, as Dify's variable manager leaves them out of the form.
    """
    variables: list[dict[str, Any]] = []
    for raw in as_list(form) or []:
        entry = as_dict(raw) or {}
        for kind, body in entry.items():
            fields = as_dict(body)
            if fields is None or kind == "external_data_tool":
                continue
            variables.append({**fields, "type": kind})
    return variables


def _config_problems(config: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    model = as_dict(config.get("model"))
    if model is None:
        problems.append(app_problem("model_config.model", "missing: the app names no model"))
    else:
        for key in ("provider", "name"):
            if not isinstance(model.get(key), str) or not model.get(key):
                problems.append(app_problem(f"model_config.model.{key}", "missing"))
    form = config.get("user_input_form")
    if form is not None and as_list(form) is None:
        problems.append(app_problem("model_config.user_input_form", "expected a list"))
    for key in ("pre_prompt", "opening_statement"):
        if config.get(key) is not None and not isinstance(config.get(key), str):
            problems.append(app_problem(f"model_config.{key}", "expected text"))
    return problems


def _node(node_id: str, title: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": node_id, "type": "custom", "data": {"title": title, **data}}


def _with_refs(text: str, names: list[str], query: str = _QUERY) -> str:
    """Dify's ``{{var}}`` form references as pool references to the start node, and its
    ``{{#query#}}`` placeholder as ``query``."""
    for name in names:
        text = text.replace("{{" + name + "}}", "{{#start." + name + "#}}")
    return text.replace("{{#query#}}", query)


def _query_ref(mode: str) -> str:
    """Where the user's query is: a chat turn's ``sys.query``, a Text Generator's input."""
    return "{{#start.query#}}" if mode == "completion" else _QUERY


def _model(config: dict[str, Any]) -> dict[str, Any]:
    model = as_dict(config.get("model")) or {}
    return {
        "provider": str(model.get("provider") or ""),
        "name": str(model.get("name") or ""),
        "mode": "completion" if model.get("mode") == "completion" else "chat",
        "completion_params": dict(as_dict(model.get("completion_params")) or {}),
    }


def _dataset_ids(config: dict[str, Any]) -> list[str]:
    """The enabled datasets of ``dataset_configs.datasets.datasets[]`` (each entry a
    ``{dataset: {enabled, id}}`` as exports write it, or the bare ``{enabled, id}``)."""
    datasets = as_dict(config.get("dataset_configs")) or {}
    ids: list[str] = []
    for raw in as_list((as_dict(datasets.get("datasets")) or {}).get("datasets")) or []:
        entry = as_dict(raw) or {}
        item = as_dict(entry.get("dataset")) or entry
        if item.get("enabled", True) and item.get("id"):
            ids.append(str(item["id"]))
    return ids


def _retrieval_node(mode: str, config: dict[str, Any]) -> dict[str, Any] | None:
    """Knowledge retrieval over the app's datasets, as Dify's runner does before the model."""
    datasets = as_dict(config.get("dataset_configs")) or {}
    ids = _dataset_ids(config)
    query_var = config.get("dataset_query_variable")
    if not ids or (mode == "completion" and not query_var):
        return None  # a Text Generator retrieves only with a query variable, as in Dify
    selector = ["start", str(query_var)] if mode == "completion" else ["sys", "query"]
    data: dict[str, Any] = {
        "type": "knowledge-retrieval",
        "query_variable_selector": selector,
        "dataset_ids": ids,
        "retrieval_mode": str(datasets.get("retrieval_model") or "multiple"),
    }
    if data["retrieval_mode"] == "multiple":
        data["multiple_retrieval_config"] = {
            "top_k": datasets.get("top_k", 4),
            "score_threshold": datasets.get("score_threshold"),
            "reranking_model": datasets.get("reranking_model"),
        }
    else:
        data["single_retrieval_config"] = {"model": _model(config)}
    return _node("knowledge_retrieval", "KNOWLEDGE RETRIEVAL", data)


def _llm_node(
    mode: str, config: dict[str, Any], names: list[str], has_context: bool
) -> dict[str, Any]:
    model = _model(config)
    if model["mode"] == "completion":
        prompt: Any = {"text": _completion_text(mode, config, names, has_context)}
    else:
        prompt = _chat_messages(mode, config, names, has_context)
    data: dict[str, Any] = {"type": "llm", "model": model, "prompt_template": prompt}
    data["context"] = {
        "enabled": has_context,
        "variable_selector": ["knowledge_retrieval", "result"] if has_context else None,
    }
    if mode == "chat":
        data["memory"] = _memory(model["mode"] == "completion")
    vision = _vision(config)
    if vision is not None:
        data["vision"] = vision
    return _node("llm", "LLM", data)


def _memory(completion_model: bool) -> dict[str, Any]:
    memory: dict[str, Any] = {
        "window": {"enabled": True, "size": CHAT_MEMORY_WINDOW},
        "query_prompt_template": _QUERY,
    }
    if completion_model:
        memory["role_prefix"] = dict(_ROLE_PREFIX)
    return memory


def _chat_messages(
    mode: str, config: dict[str, Any], names: list[str], has_context: bool
) -> list[dict[str, Any]]:
    """The chat model's messages before the history and the query."""
    if config.get("prompt_type") == "advanced":
        chat = as_dict(config.get("chat_prompt_config")) or {}
        return [
            {
                "role": str(m.get("role") or "user"),
                "text": _with_refs(str(m.get("text") or ""), names, _query_ref(mode)),
                "edition_type": "basic",
            }
            for m in map(as_dict, as_list(chat.get("prompt") or chat.get("messages")) or [])
            if m is not None
        ]
    pre = _with_refs(str(config.get("pre_prompt") or ""), names, _query_ref(mode))
    system = (_CONTEXT_PROMPT if has_context else "") + pre
    if mode == "completion":
        return _completion_messages(system, pre, names)
    return [{"role": "system", "text": system, "edition_type": "basic"}] if system else []


def _completion_messages(prompt: str, pre: str, names: list[str]) -> list[dict[str, Any]]:
    """A Text Generator sends its prompt as the user message; given a separate ``query`` input
    (one the prompt does not use), the prompt becomes the system message and the query the user's,
    as Dify does with a query."""
    query = "{{#start.query#}}"
    separate_query = "query" in names and query not in pre
    if separate_query:
        system = [{"role": "system", "text": prompt, "edition_type": "basic"}] if prompt else []
        return [*system, {"role": "user", "text": query, "edition_type": "basic"}]
    return [{"role": "user", "text": prompt, "edition_type": "basic"}] if prompt else []


def _completion_text(mode: str, config: dict[str, Any], names: list[str], has_context: bool) -> str:
    """The completion model's single prompt (Dify's simple rules, or the advanced template)."""
    if config.get("prompt_type") == "advanced":
        completion = as_dict(config.get("completion_prompt_config")) or {}
        prompt = as_dict(completion.get("prompt")) or {}
        return _with_refs(str(prompt.get("text") or ""), names, _query_ref(mode))
    pre = _with_refs(str(config.get("pre_prompt") or ""), names, _query_ref(mode))
    text = (_CONTEXT_PROMPT if has_context else "") + (pre + "\n" if pre else "")
    if mode == "chat":
        text += _HISTORIES_PROMPT + _QUERY_PROMPT
    elif "query" in names and "{{#start.query#}}" not in pre:
        text += "{{#start.query#}}"
    return text


def _llm_has_prompt(data: dict[str, Any]) -> bool:
    prompt = data.get("prompt_template")
    single = as_dict(prompt)
    messages = [single] if single is not None else as_list(prompt) or []
    return any(str((as_dict(m) or {}).get("text") or "").strip() for m in messages)


def _vision(config: dict[str, Any]) -> dict[str, Any] | None:
    """Images the user uploads reach the model when the app allows image upload."""
    upload = as_dict(config.get("file_upload")) or {}
    image = as_dict(upload.get("image")) or {}
    if not image.get("enabled"):
        return None
    detail = str(image.get("detail") or "high")
    return {"enabled": True, "configs": {"variable_selector": ["sys", "files"], "detail": detail}}


def _agent_node(config: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """An agent node in the shape of Dify's agent plugin: strategy, model, tools, instruction.

    ``tools`` keeps the classic ``agent_mode.tools`` entries (provider_id, provider_type,
    tool_name, tool_parameters) that are enabled; the app's datasets, which a classic agent
    searches as a retrieval tool, are listed in ``datasets``.
    """
    agent_mode = as_dict(config.get("agent_mode")) or {}
    strategy = str(agent_mode.get("strategy") or "function_call")
    name, label = _STRATEGIES.get(strategy, _FUNCTION_CALLING)
    tools = [
        dict(tool)
        for tool in map(as_dict, as_list(agent_mode.get("tools")) or [])
        if tool is not None and tool.get("tool_name") and tool.get("enabled", True)
    ]
    model = _model(config)
    selector = {
        "provider": model["provider"],
        "model": model["name"],
        "mode": model["mode"],
        "completion_params": model["completion_params"],
        "model_type": "llm",
        "type": "model-selector",
    }
    instruction = _with_refs(str(config.get("pre_prompt") or ""), names)
    iterations = agent_mode.get("max_iteration") or _DEFAULT_MAX_ITERATIONS
    parameters = {
        "model": {"type": "constant", "value": selector},
        "tools": {"type": "constant", "value": tools},
        "instruction": {"type": "mixed", "value": instruction},
        "query": {"type": "mixed", "value": _QUERY},
        "maximum_iterations": {"type": "constant", "value": iterations},
    }
    datasets = _dataset_ids(config)
    if datasets:
        parameters["datasets"] = {"type": "constant", "value": datasets}
    data: dict[str, Any] = {
        "type": "agent",
        "agent_strategy_provider_name": _AGENT_PROVIDER,
        "agent_strategy_name": name,
        "agent_strategy_label": label,
        "agent_parameters": parameters,
        "memory": _memory(completion_model=False),
    }
    return _node("agent", "AGENT", data)
