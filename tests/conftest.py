"""Shared test configuration."""

pytest_plugins = ["pytester", "tests.postgres_cluster"]
