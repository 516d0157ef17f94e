"""Only here to add the top-level ``migrations/`` folder to the package as ``acquis.migrations``.

Everything else about the build is declared in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["acquis", "acquis.*"]),
        "acquis.migrations",
        "acquis.migrations.versions",
    ],
)
