"""Importing this module registers every adapter (one module per source format)."""

import importlib
import pkgutil

from . import __path__ as _package_path

for _module in pkgutil.iter_modules(_package_path):
    if _module.name not in ("base", "load_all", "common"):
        importlib.import_module(f"{__package__}.{_module.name}")
