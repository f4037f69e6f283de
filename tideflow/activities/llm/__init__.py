"""Model calls through litellm: the ``llm_invoke`` activity and its pure request/result models.

litellm fetches a price list from the internet at import unless told to use its bundled copy;
this package sets that before anything imports litellm (tests and the worker import it here).
"""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
