"""An example third-party Tideflow plugin: two node types and one tool provider.

Each module named in the ``tideflow.nodes`` entry points is shaped like a built-in node module
(``SPECS``, ``RUNNERS``, optionally ``ACTIVITIES``); ``tools.PROVIDER`` is a ``ToolProvider``.
"""
