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
from collections.abc import Sequence
from functools import cache
from importlib import resources

import jinja2
from markupsafe import Markup

__all__ = ["content_security_policy", "csp_hash", "render_page"]

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


def render_page(
    package: str,
    template: str,
    *,
    styles: Sequence[str],
    scripts: Sequence[str],
    **context: object,
) -> str:
    """Render ``template`` of ``package`` with the named CSS and JS assets inlined (each kind
    joined into one block) and the CSP that admits exactly those two blocks."""
    style = "\n".join(_asset(package, name) for name in styles)
    script = "\n".join(_asset(package, name) for name in scripts)
    page = _environment(package).get_template(template).render(
        style=Markup(style),
        script=Markup(script),
        csp=content_security_policy(style, script),
        **context,
    )
    return page if page.endswith("\n") else page + "\n"
