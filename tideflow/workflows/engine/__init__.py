"""The graph engine: walks an ExecutionPlan with Dify's semantics, independent of Temporal.

``run.run_graph`` takes an ``executor.Executor`` (activities, time, ids); ``GraphWorkflow``
supplies one backed by ``temporalio.workflow`` and tests supply a plain-asyncio one. Modules are
imported directly (this package re-exports nothing, so node modules can import the context
without an import cycle).
"""
