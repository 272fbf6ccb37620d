"""Self-contained HTML pages (report.html, compliance.html) from Jinja templates.

One way to build a page, so every page gets the same protections:

- autoescape: every value from machines, the inventory or outputs is escaped by Jinja;
- one Content-Security-Policy: no network access at all, and inline style and script admitted
  only by the sha256 of the exact text this page carries (no ``'unsafe-inline'``), so even a
  missed escape could not load or run anything;
- data embedded once as JSON in ``<script type="application/json">`` (``tojson`` writes ``<``,
  ``>``, ``&`` and ``'`` as ``\\u`` escapes, so no ``</script>`` can end it early), rendered in
  the page by its script instead of as megabytes of markup.

Templates and their CSS/JS live in ``templates/`` beside the module that renders them
(package data); ``page.html.j2`` here is the frame every page extends.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from importlib import resources

import jinja2
from markupsafe import Markup

__all__ = [
    "content_security_policy", "csp_hash", "island_json", "render_page", "stream_page",
]

_FRAME_PACKAGE = "fleet.report"


def csp_hash(text: str) -> str:
    """The CSP source expression that admits an inline block with exactly ``text``."""
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return f"'sha256-{digest}'"


def content_security_policy(style: str, script: str) -> str:
    return (
        f"default-src 'none'; style-src {csp_hash(style)}; script-src {csp_hash(script)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


@cache
def _environment(package: str) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader(package, "templates")]
    if package != _FRAME_PACKAGE:
        loaders.append(jinja2.PackageLoader(_FRAME_PACKAGE, "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "separators": (",", ":")}
    return env


@cache
def _asset(package: str, name: str) -> str:
    for owner in (package, _FRAME_PACKAGE):
        path = resources.files(owner) / "templates" / name
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    raise FileNotFoundError(f"{package}: no template asset {name!r}")


def island_json(value: object) -> Markup:
    """``value`` as compact JSON safe inside ``<script type="application/json">``: ``<``,
    ``>``, ``&`` and ``'`` written as ``\\u`` escapes (only ever inside JSON strings), so no
    ``</script>`` or ``<!--`` can end or change the element. The same escaping as Jinja's
    ``tojson``, usable a piece at a time."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.translate(_ISLAND_ESCAPES))


_ISLAND_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", ord("'"): "\\u0027"}


def stream_page(
    package: str,
    template: str,
    *,
    styles: Sequence[str],
    scripts: Sequence[str],
    data_chunks: Iterable[Markup],
    **context: object,
) -> Iterator[str]:
    """Render ``template`` of ``package`` as chunks, with the named CSS and JS assets inlined
    (each kind joined into one block), the CSP that admits exactly those two blocks, and the
    page's JSON data island written from ``data_chunks`` (each already ``island_json``-safe)
    as they come: a page of 10,000 rows is never one string in memory."""
    style = "\n".join(_asset(package, name) for name in styles)
    script = "\n".join(_asset(package, name) for name in scripts)
    chunks = _environment(package).get_template(template).generate(
        style=Markup(style),
        script=Markup(script),
        csp=content_security_policy(style, script),
        data_chunks=data_chunks,
        **context,
    )
    last = ""
    for chunk in chunks:
        if chunk:
            yield chunk
            last = chunk
    if not last.endswith("\n"):
        yield "\n"


def render_page(
    package: str,
    template: str,
    *,
    styles: Sequence[str],
    scripts: Sequence[str],
    data: object,
    **context: object,
) -> str:
    """The whole page of ``stream_page`` as one string, its data island from ``data``."""
    return "".join(
        stream_page(
            package, template, styles=styles, scripts=scripts,
            data_chunks=(island_json(data),), data=data, **context,
        )
    )
