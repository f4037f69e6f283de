"""The console's pages: each module has ``render()``, registered in ``tideflow.console.app``."""
