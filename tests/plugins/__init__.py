"""Tests of the plugin registry, with a real installable third-party plugin (example_plugin/)."""
