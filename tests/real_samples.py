"""The corpus of real public samples, one folder per format, in ../shared/data/formats/.

Every adapter and importer is tested on these files (never on copies: the data is not ours to
commit). When the folder is absent (a clone without the shared data), those tests skip and say why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

FORMATS_DIR = Path(settings.RTCC_SHARED_DATA_DIR) / "formats"


def real_sample(kind: str, name: str) -> Path:
    """The path of one real sample, e.g. real_sample("cap", "oasiscap_v1dot0_appendix_adot1.xml")."""
    path = FORMATS_DIR / kind / name
    if not path.is_file():
        pytest.skip(f"real sample not available: {path} (settings.RTCC_SHARED_DATA_DIR/formats is absent)")
    return path


def real_samples(kind: str, pattern: str = "*") -> list[Path]:
    """Every real sample of a format matching a glob pattern, sorted; skips when there is none."""
    folder = FORMATS_DIR / kind
    paths = sorted(p for p in folder.glob(pattern) if p.is_file()) if folder.is_dir() else []
    if not paths:
        pytest.skip(f"no real samples {kind}/{pattern} in {FORMATS_DIR} (settings.RTCC_SHARED_DATA_DIR/formats)")
    return paths
