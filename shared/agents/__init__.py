"""Agents the loop can improve, and what they work with: task sets (CSV, split into train and
validation), the recorder that turns a rollout into OpenTelemetry spans, graders that reward production
traces. Importing this package registers the bundled agents (capital-lookup, and the price-quote agent
whose task set has graded difficulty); ``load_agent_modules`` registers the agents of the modules the
``AGENT_MODULES`` app setting names.

Belongs here: what a user who brings an agent writes against. Imports only ``shared.telemetry``."""

from shared.agents import capital_lookup, quote
from shared.agents.registry import (
    AgentModuleError,
    AgentSpec,
    UnknownAgentError,
    get_agent,
    load_agent_modules,
    register_agent,
    registered_agents,
)

register_agent(capital_lookup.SPEC)
register_agent(quote.SPEC)

__all__ = [
    "AgentModuleError",
    "AgentSpec",
    "UnknownAgentError",
    "get_agent",
    "load_agent_modules",
    "register_agent",
    "registered_agents",
]
