"""An example third-party Tideflow plugin: two node types, a tool provider, a model provider
and a parser.

Each module named in the ``tideflow.nodes`` entry points is shaped like a built-in node module
(``SPECS``, ``RUNNERS``, optionally ``ACTIVITIES``); ``tools.PROVIDER`` is a ``ToolProvider``,
``model_providers.PROVIDERS`` a tuple of ``ProviderSpec`` and ``parsers.PARSER`` a ``Parser``.
"""
