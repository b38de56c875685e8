"""Agents that step environments: one replaying held-out traces (or, perturbed, leaving their
paths), one driven by an LLM."""

from wmh.agents.base import Agent
from wmh.agents.llm import LLMAgent
from wmh.agents.sampled import PerturbedAgent, SampledAgent

__all__ = ["Agent", "LLMAgent", "PerturbedAgent", "SampledAgent"]
