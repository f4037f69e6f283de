"""Starting runs on Temporal, following them to their end, and streaming their events."""
