pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.state", "tests.fixtures.cli",
                  "tests.fixtures.browser"]
