"""Fixture modules live in tests/fixtures/; each concern has its own module."""

pytest_plugins = [
    "tests.fixtures.azurite",
    "tests.fixtures.sim",
]
