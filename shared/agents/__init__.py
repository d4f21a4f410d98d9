"""Agents the loop can improve. Importing this package registers the bundled capital-lookup agent."""

from shared.agents import capital_lookup
from shared.agents.registry import AgentSpec, UnknownAgentError, get_agent, register_agent, registered_agents

register_agent(capital_lookup.SPEC)

__all__ = ["AgentSpec", "UnknownAgentError", "get_agent", "register_agent", "registered_agents"]
