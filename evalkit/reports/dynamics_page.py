"""`evalkit dynamics --html`: one offline page of the training-dynamics report, in `evalkit view`'s style.

The page embeds the report itself (the `--json` document, gzipped) and view's stylesheet; its script
(assets/dynamics/dynamics.js) only draws those numbers. The Content-Security-Policy forbids any
network access, so the file opens from disk anywhere.
"""

from __future__ import annotations

import base64
import datetime as _dt
import gzip
import json
import os
from pathlib import Path

from ..types import EvalkitError

from .view import ASSETS as VIEW_ASSETS
from .view import _escape, _json_default

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "dynamics"


def page_title(report: dict) -> str:
    names = [r["name"] for r in report["runs"]]
    return f"{report['benchmark']}: training dynamics of {', '.join(names) if len(names) <= 3 else f'{len(names)} training runs'}"


def render_page(report: dict) -> str:
    data = {"title": page_title(report), "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "report": report}
    payload = base64.b64encode(gzip.compress(json.dumps(data, ensure_ascii=False, allow_nan=False, default=_json_default).encode("utf-8"),
                                             6, mtime=0)).decode("ascii")
    parts = {"TITLE": _escape(f"evalkit dynamics - {data['title']}"), "STYLE": (VIEW_ASSETS / "view.css").read_text(encoding="utf-8"),
             "SCRIPT": (ASSETS / "dynamics.js").read_text(encoding="utf-8"), "DATA": payload}
    page = (ASSETS / "dynamics.html").read_text(encoding="utf-8")
    for key, value in parts.items():
        page = page.replace("{{" + key + "}}", value)
    return page


def write_page(report: dict, path: str | Path) -> None:
    write_text_atomic(Path(path), render_page(report), "--html")


def write_text_atomic(path: Path, text: str, flag: str) -> None:
    """Beside the final name, then renamed: a failure leaves no partial file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise EvalkitError(f"cannot write {path} ({e.strerror or e}); choose a writable {flag} path") from None
