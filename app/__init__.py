"""Pepper: a studio patchbay service."""
