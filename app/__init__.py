"""Pepper: a studio patchbay service."""

# The one statement of the version: OpenAPI shows it, and a test holds pyproject.toml to it.
VERSION = "2.1.0"
