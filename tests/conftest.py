"""Shared test configuration."""

pytest_plugins = ["pytester", "aura.testing.postgres"]
