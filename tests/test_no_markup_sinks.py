"""No markup from data, checked in the source: the front end builds its DOM from text (dom.js `el`,
textContent, elements handed to Leaflet), and the templates let Django escape everything. Any HTML
sink that reappears is named here with its file and line; test_markup_browser.py proves the
behaviour in Chromium."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "frontend" / "static" / "rtcc"

# Writing HTML from a string: the DOM's own sinks, and Leaflet's (a string popup, tooltip or divIcon
# `html` is inserted with innerHTML; leaflet.js turns it into text, but our modules hand elements).
JS_SINKS = re.compile(
    r"\.(innerHTML|outerHTML)\s*\+?=|insertAdjacentHTML\s*\(|document\.write(ln)?\s*\(|createContextualFragment"
    r"|parseFromString\s*\(|\bsrcdoc\b"
    r"|\.(bindTooltip|bindPopup|setContent|setTooltipContent|setPopupContent)\s*\(\s*[`'\"]"
    r"|\bhtml\s*:\s*[`'\"]"
)
TEMPLATE_SINKS = re.compile(r"\|\s*safe\b|\{%\s*autoescape\s+off|\|\s*safeseq\b")
PYTHON_SINKS = re.compile(r"\bmark_safe\s*\(|\bSafeString\s*\(|\bSafeText\s*\(")


def _code_lines(path: Path):
    """(line number, line) outside // and /* */ comments (good enough for our plain modules)."""
    in_block = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        if in_block:
            in_block = "*/" not in stripped
            continue
        if stripped.startswith("/*"):
            in_block = "*/" not in stripped
            continue
        if stripped.startswith("//"):
            continue
        yield number, line


def _hits(paths, pattern, lines=lambda p: enumerate(p.read_text().splitlines(), 1)):
    return [
        f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{number}: {line.strip()}"
        for path in paths
        for number, line in lines(path)
        if pattern.search(line)
    ]


def test_front_end_modules_write_no_html_strings():
    modules = sorted(SCRIPTS.rglob("*.js"))
    assert len(modules) > 20, "frontend/static/rtcc moved?"
    assert _hits(modules, JS_SINKS, _code_lines) == [], "build elements with dom.js el() / textContent instead"


def test_templates_and_python_mark_nothing_safe():
    templates = sorted(ROOT.glob("frontend/templates/**/*.html")) + sorted(ROOT.glob("apps/*/templates/**/*.html"))
    assert templates
    assert _hits(templates, TEMPLATE_SINKS) == [], "let Django escape; hand data to scripts with json_script"
    python = [p for p in [*ROOT.glob("apps/**/*.py"), *ROOT.glob("rtcc_gis/**/*.py")] if "migrations" not in p.parts]
    assert _hits(python, PYTHON_SINKS) == [], "use format_html (it escapes its arguments), never mark_safe on data"


def test_the_check_finds_what_it_looks_for(tmp_path):
    """The patterns themselves: each shape of sink is caught, the safe shapes are not."""
    sample = tmp_path / "sample.js"
    sample.write_text(
        "node.innerHTML = text;\n"
        "m.bindTooltip(`${unit.call_sign}`);\n"
        "L.divIcon({ html: '<b>' + name + '</b>' });\n"
        "box.insertAdjacentHTML('beforeend', row);\n"
        "// node.innerHTML = 'in a comment';\n"
        "m.bindTooltip(el('span', { text: name }));\n"
        "L.divIcon({ html: chip(props) });\n"
        "node.textContent = text;\n"
    )
    assert [hit.split(":")[1] for hit in _hits([sample], JS_SINKS, _code_lines)] == ["1", "2", "3", "4"]
    page = tmp_path / "page.html"
    page.write_text("{{ name|safe }}\n{% autoescape off %}{{ x }}{% endautoescape %}\n{{ name }}\n")
    assert len(_hits([page], TEMPLATE_SINKS)) == 2
