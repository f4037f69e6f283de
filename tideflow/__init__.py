"""Tideflow: Dify-compatible LLM apps where every run is one durable Temporal workflow."""

__version__ = "0.1.0"
