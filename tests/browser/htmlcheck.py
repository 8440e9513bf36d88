"""The HTML check every page goes through: html5lib's strict WHATWG parser (any parse error fails), plus the
structure our pages promise: a language, a title, one <main>, unique ids, a label for every control, and nothing the
CSP forbids (inline scripts, style attributes, on* handlers)."""

from collections import Counter

import html5lib
from html5lib.constants import E

CONTROL_TAGS = {"input", "select", "textarea"}
UNLABELLED_INPUT_TYPES = {"hidden", "submit", "button", "reset", "image"}


def html_problems(html: str) -> list[str]:
    """Every problem found, as readable lines (empty when the page is fine). The same rules hold for the tenant
    pages and the console (Django's admin templates meet them too)."""
    parser = html5lib.HTMLParser(strict=False, namespaceHTMLElements=False)
    doc = parser.parse(html)
    problems = []
    for (line, col), code, params in parser.errors:
        message = E.get(code, code) % params if isinstance(params, dict) else code
        problems.append(f"parse error at {line}:{col}: {message}")
    if not html.lstrip().lower().startswith("<!doctype html>"):
        problems.append("missing <!DOCTYPE html>")
    root = doc if doc.tag == "html" else doc.find("html")
    if root is None or not root.get("lang"):
        problems.append("<html> has no lang attribute")
    title = doc.find(".//title")
    if title is None or not (title.text or "").strip():
        problems.append("no <title>")
    elements = list(doc.iter())
    ids = Counter(el.get("id") for el in elements if el.get("id"))
    problems += [f"duplicate id {i!r}" for i, n in ids.items() if n > 1]
    labelled = {el.get("for") for el in elements if el.tag == "label"}
    for el in elements:
        if not isinstance(el.tag, str):
            continue
        is_control = el.tag in CONTROL_TAGS and (el.get("type") or "").lower() not in UNLABELLED_INPUT_TYPES
        has_label = el.get("id") in labelled or el.get("aria-label") or el.get("aria-labelledby")
        if is_control and not has_label:
            problems.append(f"<{el.tag} name={el.get('name')!r}> has no label")
        if el.tag == "script" and not el.get("src") and el.get("type") != "application/json":
            problems.append("inline <script> (the CSP forbids it)")
        if any(name.startswith("on") for name in el.attrib):
            problems.append(f"<{el.tag}> has an inline event handler")
        if el.get("style") is not None:
            problems.append(f"<{el.tag}> has a style attribute")
    if len(doc.findall(".//main")) != 1:
        problems.append("not exactly one <main>")
    return problems


def assert_valid_html(html: str | bytes) -> None:
    if isinstance(html, bytes):
        html = html.decode()
    problems = html_problems(html)
    assert not problems, "HTML problems:\n" + "\n".join(problems)
