"""Local stand-ins for outside services (an OpenAI-compatible model server), run on loopback."""
