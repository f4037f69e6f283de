"""Tideflow: Dify-compatible LLM apps where every run is one durable Temporal workflow."""

import time

__version__ = "0.1.0"

# When this process first imported Tideflow, before any heavy import: ``tideflow up`` counts
# its "healthy in X s" from here, so the CLI's own start-up is in the figure.
IMPORTED_AT = time.monotonic()
