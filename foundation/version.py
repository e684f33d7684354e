"""One version for the package, `inkbus --version`, the OpenAPI document and the HTTP client."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("inkbus")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
