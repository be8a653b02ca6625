"""Fill the one HTML template: static sections as escaped HTML, the rows as embedded JSON.

Dataset text is untrusted. Three layers keep it inert:
1. the rows travel as JSON inside <script type="application/json"> (never executed), with
   every '<', '>' and '&' written as a \\u escape, so no `</script>` or `<!--` can appear;
2. the page's script shows data only through textContent, never innerHTML;
3. a Content-Security-Policy allows only our own inline script (by its hash), and no network,
   so even markup that slipped through could neither run nor fetch anything.
Static sections built here pass every data-derived string through html.escape.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html import escape
from importlib import resources
from typing import Any

from clearft.report.svg import histogram_svg, scatter_svg

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def embed_json(data: Any) -> str:
    """JSON that is safe inside a <script> element and parses back to `data`."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _asset(name: str) -> str:
    return resources.files("clearft.report").joinpath(name).read_text(encoding="utf-8")


def script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (dict, list)):
        return escape(json.dumps(value, ensure_ascii=False, default=str))
    return escape(str(value))


def key_value_table(data: dict[str, Any], table_id: str) -> str:
    rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{_fmt(v)}</td></tr>" for k, v in data.items())
    return f'<table class="kv" id="{table_id}">{rows}</table>'


def accuracy_table(accuracy: dict[str, Any]) -> str:
    body = []
    for label, result in accuracy.items():
        result = result if isinstance(result, dict) else {"accuracy": result}
        body.append(f"<tr><th>{escape(str(label))}</th><td>{_fmt(result.get('accuracy'))}</td>"
                    f"<td>{_fmt(result.get('n'))}</td></tr>")
    return ('<table class="grid" id="accuracy"><thead><tr><th>model</th><th>accuracy</th>'
            f'<th>test rows</th></tr></thead><tbody>{"".join(body)}</tbody></table>')


def agreement_table(agreement: dict[str, Any]) -> str:
    methods = agreement["methods"]
    head = "".join(f"<th>{escape(m)}</th>" for m in methods)
    body = []
    for i, m in enumerate(methods):
        cells = "".join(
            f'<td title="{agreement["shared"][i][j]} rows scored by both">'
            f'{_fmt(agreement["spearman"][i][j])}</td>'
            for j in range(len(methods))
        )
        body.append(f"<tr><th>{escape(m)}</th>{cells}</tr>")
    return (f'<table class="grid" id="agreement"><thead><tr><th>Spearman ρ</th>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _counts_line(payload: dict[str, Any]) -> str:
    c = payload["counts"]
    parts = [f"{c['rows']} rows", f"{c['scored']} scored"]
    if c["errors"]:
        parts.append(f"{c['errors']} failed to score")
    if c.get("unknown_outputs"):
        parts.append(f"{c['unknown_outputs']} unparsed model outputs (counted as unknown)")
    if payload["threshold"] is not None:
        parts.append(f"{c['below_threshold']} below the threshold {payload['threshold']:.3g}")
    for status, n in sorted(c["status"].items()):
        if status in ("kept", "dropped", "corrected"):
            parts.append(f"{n} {status}")
    if c["corrected"] and "corrected" not in c["status"]:
        parts.append(f"{c['corrected']} corrected")
    if payload["chart"]["median"] is not None:
        parts.append(f"median confidence {payload['chart']['median']:.3f}")
    return escape(" · ".join(parts))


def identity(payload: dict[str, Any]) -> dict[str, Any]:
    """Method, model and seed, wherever the scorer or the run recorded them."""
    found: dict[str, Any] = {}
    for source in (payload.get("run_settings") or {}, payload.get("settings") or {}):
        backend = source.get("backend")
        model = source.get("model_id") or (backend.get("model_id") if isinstance(backend, dict) else None)
        for key, value in (("method", source.get("method")), ("preset", source.get("preset")),
                           ("model", model), ("seed", source.get("seed"))):
            if value is not None and key not in found:
                found[key] = value
    return {k: found[k] for k in ("method", "preset", "model", "seed") if k in found}


def _sections(payload: dict[str, Any]) -> dict[str, str]:
    """The static parts, each already escaped HTML (or empty when there is nothing to show)."""
    methods = payload["methods"]
    out = {
        "counts": _counts_line(payload),
        "identity": escape(" · ".join(f"{k}: {v}" for k, v in identity(payload).items())),
        "histogram": histogram_svg(payload["chart"]["bins"], payload["threshold"],
                                   f"confidence ({methods[0]})"),
        "agreement": "",
        "accuracy": "",
        "settings": "",
        "warnings": "",
    }
    if payload["agreement"] is not None:
        scatter = payload["scatter"]
        out["agreement"] = (
            '<section id="agreement-section"><h2>How the methods agree</h2>'
            + agreement_table(payload["agreement"])
            + scatter_svg(scatter["points"], scatter["x"], scatter["y"])
            + f'<p class="note">{len(scatter["points"])} rows drawn; '
            f'{escape(scatter["x"])} across, {escape(scatter["y"])} up.</p></section>'
        )
    if payload["accuracy"]:
        out["accuracy"] = ('<section id="accuracy-section"><h2>Accuracy before and after</h2>'
                           + accuracy_table(payload["accuracy"]) + "</section>")
    settings_parts = []
    if payload["settings"]:
        settings_parts.append(key_value_table(payload["settings"], "settings"))
    run_settings = payload.get("run_settings")
    if run_settings and run_settings != payload["settings"]:
        settings_parts.append("<h3>Run settings</h3>" + key_value_table(run_settings, "run-settings"))
    if payload.get("stages"):
        settings_parts.append("<h3>Stages</h3>" + key_value_table(payload["stages"], "stages"))
    if settings_parts:
        out["settings"] = ('<section id="settings-section"><h2>Settings, model and seed</h2>'
                           + "".join(settings_parts) + "</section>")
    if payload["warnings"]:
        items = "".join(f"<li>{escape(w)}</li>" for w in payload["warnings"])
        out["warnings"] = f'<ul class="warnings">{items}</ul>'
    return out


def render_html(payload: dict[str, Any]) -> str:
    """The whole self-contained page."""
    script = _asset("report.js")
    values = {
        "title": escape(payload["title"]),
        "css": _asset("report.css"),
        "csp": (f"default-src 'none'; script-src '{script_hash(script)}'; "
                "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"),
        "data": embed_json({k: payload[k] for k in ("methods", "page_size", "threshold", "rows")}),
        "script": script,
        **_sections(payload),
    }
    # One pass over the template: text filled in is never scanned for placeholders again.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], _asset("template.html"))
