"""The LLM policy (``--policy llm``): a chat model chooses graph tools in a bounded LangGraph loop.

See :mod:`flowpath.agent.llm.policy` for the loop, :mod:`flowpath.agent.llm.backends` for the
OpenAI-compatible and local Hugging Face backends, :mod:`flowpath.agent.llm.tools` for the tools.
"""

from flowpath.agent.llm.backends import BackendError, ChatReply, LocalHFBackend, OpenAICompatBackend, ToolRequest
from flowpath.agent.llm.policy import LLMConfig, get_backend, llm_policy
from flowpath.agent.llm.tools import chart_listing, graph_tools

__all__ = [
    "BackendError",
    "ChatReply",
    "LLMConfig",
    "LocalHFBackend",
    "OpenAICompatBackend",
    "ToolRequest",
    "chart_listing",
    "get_backend",
    "graph_tools",
    "llm_policy",
]
