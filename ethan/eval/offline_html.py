"""Self-contained HTML pages for the folium maps: they open with no network but for the tiles.

folium's page asks CDNs for Leaflet, jQuery, Bootstrap, Font Awesome and awesome-markers.
Here Leaflet's script and stylesheet come from the ``xstatic-leaflet`` package and go inline
(the stylesheet's images as ``data:`` URIs), every other external script or stylesheet is
dropped, and popups and tooltips are bound with Leaflet's own ``bindPopup``/``bindTooltip``
(folium's popup builds its content with jQuery, and both put the text in a JavaScript
template literal, where a backtick or ``${`` in a file name would break the page).
"""

from __future__ import annotations

import base64
import functools
import importlib
import json
import re
from pathlib import Path
from typing import Any

from ethan.errors import MissingDependencyError

MAPS_HINT = "pip install 'ethan-geo[maps]'"

# a tag that loads a script or a stylesheet from elsewhere: dropped from the page's head
_LOADING_TAG = re.compile(
    r"<script\b[^>]*\bsrc\s*=[^>]*>\s*</script\s*>|<link\b[^>]*\bhref\s*=[^>]*>", re.I
)
# what a page may load from the network (for the check): script src, link href, CSS url()/@import
_EXTERNAL = re.compile(
    r"""<script\b[^>]*\bsrc\s*=\s*["']?((?:https?:)?//[^"'\s>]+)"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']?((?:https?:)?//[^"'\s>]+)"""
    r"""|url\(\s*["']?((?:https?:)?//[^"')\s]+)"""
    r"""|@import\s+["']((?:https?:)?//[^"']+)""",
    re.I,
)
_CSS_IMAGE = re.compile(r"""url\(\s*(["']?)(images/[\w.-]+\.png)\1\s*\)""")
_SOURCE_MAP = re.compile(r"^\s*//# sourceMappingURL=.*$", re.M)


def _leaflet_dir() -> Path:
    try:
        leaflet = importlib.import_module("xstatic.pkg.leaflet")
    except ImportError as exc:
        raise MissingDependencyError(
            f"the HTML map needs xstatic-leaflet (Leaflet, inline): {MAPS_HINT}"
        ) from exc
    return Path(leaflet.BASE_DIR)


@functools.lru_cache(maxsize=1)
def leaflet_assets() -> tuple[str, str]:
    """``(script, stylesheet)``: Leaflet's minified code and its CSS, each safe to put inside
    a ``<script>``/``<style>`` element, with the CSS's images as ``data:`` URIs."""
    base = _leaflet_dir()
    script = _SOURCE_MAP.sub("", (base / "leaflet.js").read_text(encoding="utf-8"))
    script = re.sub(r"</(script)", r"<\\/\1", script, flags=re.I)

    def inline(match: re.Match[str]) -> str:
        data = base64.b64encode((base / match.group(2)).read_bytes()).decode("ascii")
        return f'url("data:image/png;base64,{data}")'

    style = _CSS_IMAGE.sub(inline, (base / "leaflet.css").read_text(encoding="utf-8"))
    if re.search(r"</style", style, re.I):  # pragma: no cover - not in any Leaflet release
        raise ValueError("leaflet.css contains '</style'")
    return script, style


def external_references(page: str) -> list[str]:
    """The addresses a page loads scripts, stylesheets or CSS images from over the network
    (tile URLs inside the page's JavaScript are not among them)."""
    return [next(url for url in match.groups() if url) for match in _EXTERNAL.finditer(page)]


def self_contained(page: str) -> str:
    """The page with Leaflet inline in its head and no other script or stylesheet loaded.

    Leaflet goes where the first loading tag was, before the page's own styles, so that
    they still override Leaflet's.
    """
    head_end = page.lower().find("</head>")
    if head_end < 0:
        raise ValueError("the page has no </head>")
    head, rest = page[:head_end], page[head_end:]
    first = _LOADING_TAG.search(head)
    if first is not None:
        at = first.start()
    else:
        opening = re.search(r"<head\b[^>]*>", head, re.I)
        at = opening.end() if opening else 0
    script, style = leaflet_assets()
    inline = f"<style>\n{style}\n</style>\n<script>\n{script}\n</script>\n"
    head = head[:at] + _LOADING_TAG.sub("", head[at:])
    return head[:at] + inline + head[at:] + rest


def js_string(text: str) -> str:
    """A JavaScript string literal of ``text``, safe inside a ``<script>`` element."""
    return json.dumps(text).replace("</", "<\\/").replace("<!--", "\\u003c!--")


@functools.lru_cache(maxsize=1)
def _binding_class() -> Any:
    from branca.element import MacroElement
    from jinja2 import Template

    template = Template(
        "{% macro script(this, kwargs) %}"
        "{{ this._parent.get_name() }}{{ this.calls }};\n"
        "{% endmacro %}"
    )
    return type("LeafletBinding", (MacroElement,), {"_template": template})


def bind(
    layer: Any, *, popup: str | None = None, tooltip: str | None = None, max_width: int = 300
) -> None:
    """Give a folium layer a popup and/or a tooltip (HTML, escaped by the caller) with
    Leaflet's own calls: no jQuery, and the text as a JSON string literal."""
    calls = ""
    if popup is not None:
        calls += f".bindPopup({js_string(popup)}, {{maxWidth: {int(max_width)}}})"
    if tooltip is not None:
        calls += f".bindTooltip({js_string(tooltip)}, {{sticky: true}})"
    if calls:
        binding = _binding_class()()
        binding.calls = calls
        layer.add_child(binding)


def save_map(fmap: Any, path: Path) -> Path:
    """Render a folium map to a self-contained page at ``path``, atomically (a temporary file
    in the same folder, then renamed): a crash leaves the old file or none, never half."""
    from ethan.results import write_atomic

    path = Path(path)
    write_atomic(path, self_contained(fmap.get_root().render()))
    return path
