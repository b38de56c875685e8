"""Agents that step environments: one replaying held-out traces, one driven by an LLM."""

from wmh.agents.base import Agent
from wmh.agents.llm import LLMAgent
from wmh.agents.sampled import SampledAgent

__all__ = ["Agent", "LLMAgent", "SampledAgent"]
