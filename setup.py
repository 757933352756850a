"""Only what pyproject.toml cannot say: the example configs in manifests/ ship inside the wheel as
the package ``fdf.examples`` (``fdf config list`` / ``fdf config show NAME``), without a second
copy in the source tree. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["fdf*", "anonymizer*", "pipelines*"]) + ["fdf.examples"],
    package_dir={"fdf.examples": "manifests"},
)
