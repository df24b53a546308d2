"""The page's files as deployment uploads them, which needs no AWS."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.deploy.site import site_files
from pipeline.errors import PipelineError


def test_site_files_rewrite_config_js_only_and_cache_it_never(tmp_path: Path) -> None:
    for name in ("index.html", "app.js", "config.js", "style.css"):
        (tmp_path / name).write_text(f"/* {name} */")
    files = {key: (body, kind, cache) for key, body, kind, cache in site_files(tmp_path, 'http://a"b', 60)}
    assert files["config.js"] == (b'export const API_BASE_URL = "http://a\\"b";\n', "text/javascript", "no-cache")
    assert files["index.html"] == (b"/* index.html */", "text/html; charset=utf-8", "no-cache")
    assert files["style.css"] == (b"/* style.css */", "text/css", "public, max-age=60")
    (tmp_path / "index.html").unlink()
    with pytest.raises(PipelineError, match="no index.html"):
        site_files(tmp_path, "http://a", 60)
