"""Root of the test tree: shared fixture modules are plugged in here."""

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.dovecot",
]
