"""The HTML report: one self-contained static page, a gallery of every job.

The page needs no network when it is viewed: its style and script are inline, result files are
loaded by paths relative to the page (it lives in the output folder), a base64 input is shown as
a small embedded thumbnail, and an input given as a URL is a link, never fetched. Each job shows
its inputs beside its outputs (images, and videos in players), a badge for its state, the error
of a failed job, and its task id, attempts, time and units. Filters by state and kind work
without a server.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from kbatch.reports.model import Input, JobReport, Report


def _src(path: str) -> str:
    """A relative path as a URL reference (spaces, '#', '?' and the like quoted)."""
    return escape(path if path.startswith("data:") else quote(path), quote=True)


def _input(item: Input) -> str:
    label = escape(item.field)
    if item.src:
        return (
            f'<figure><img src="{_src(item.src)}" alt="{label}" loading="lazy">'
            f"<figcaption>{label}</figcaption></figure>"
        )
    if item.link:
        link = escape(item.link, quote=True)
        return (
            f'<figure class="link"><a href="{link}" rel="noreferrer">{escape(item.link)}</a>'
            f"<figcaption>{label} (URL, not loaded)</figcaption></figure>"
        )
    return f'<figure class="link"><span>unreadable</span><figcaption>{label}</figcaption></figure>'


def _output(path: str, kind: str) -> str:
    name = escape(path.rsplit("/", 1)[-1])
    if kind == "video":
        player = f'<video controls muted preload="metadata" src="{_src(path)}"></video>'
        return f"<figure>{player}<figcaption>{name}</figcaption></figure>"
    return (
        f'<figure><a href="{_src(path)}"><img src="{_src(path)}" alt="{name}" loading="lazy">'
        f"</a><figcaption>{name}</figcaption></figure>"
    )


def _job(job: JobReport, inputs: tuple[Input, ...]) -> str:
    ins = "".join(_input(item) for item in inputs) or '<p class="none">not known</p>'
    outs = "".join(_output(p, k) for p, k in zip(job.outputs, job.output_kinds, strict=True))
    if not outs and job.result_urls:
        outs = '<p class="none">not downloaded; URLs in report.csv</p>'
    outs = outs or '<p class="none">none yet</p>'
    facts = [
        ("task", job.task_id or "-"),
        ("attempts", str(job.attempts)),
        ("seconds", "-" if job.seconds is None else f"{job.seconds:g}"),
        ("units", f"{job.units:g}"),
    ]
    meta = "".join(f"<dt>{k}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    error = ""
    if job.error_message:
        code = f" {escape(job.error_code)}" if job.error_code else ""
        reason = escape(job.error_reason or "error")
        error = f'<p class="error"><b>{reason}{code}</b>: {escape(job.error_message)}</p>'
    state, kind = escape(job.state), escape(job.kind)
    return (
        f'<article class="job" data-state="{state}" data-kind="{kind}">'
        f'<header><h2>{escape(job.id)}</h2><span class="badge {state}">{state}</span>'
        f'<span class="kind">{kind}</span></header>{error}'
        f'<div class="media"><section class="inputs"><h3>inputs</h3>{ins}</section>'
        f'<section class="outputs"><h3>outputs</h3>{outs}</section></div>'
        f'<dl class="meta">{meta}</dl></article>'
    )


def _filters(name: str, counts: dict[str, int]) -> str:
    boxes = "".join(
        f'<label><input type="checkbox" name="{name}" value="{escape(value)}" checked> '
        f"{escape(value)} ({count})</label>"
        for value, count in counts.items()
        if count
    )
    return f'<fieldset data-filter="{name}"><legend>{name}</legend>{boxes}</fieldset>'


def render(report: Report, *, limit: int) -> str:
    summary = report.summary
    shown = report.jobs[:limit]
    by_kind = {kind: sum(states.values()) for kind, states in summary.by_kind.items()}
    figures = [
        ("jobs", str(summary.jobs)),
        ("done", str(summary.done)),
        ("failed", str(summary.by_state.get("failed", 0))),
        ("units spent", ", ".join(f"{p} {u:g}" for p, u in sorted(summary.units.items())) or "0"),
        ("wall time", "-" if summary.wall_seconds is None else f"{summary.wall_seconds:g} s"),
        ("jobs per hour", "-" if summary.jobs_per_hour is None else f"{summary.jobs_per_hour:g}"),
    ]
    cells = "".join(f"<div><b>{escape(v)}</b><span>{k}</span></div>" for k, v in figures)
    more = ""
    if len(report.jobs) > len(shown):
        more = (
            f'<p class="more">The gallery shows the first {len(shown)} of {len(report.jobs)} '
            "jobs; report.csv and report.json list them all.</p>"
        )
    cards = "".join(_job(job, report.inputs.get(job.id, ())) for job in shown)
    title = escape(f"kbatch: {report.name}")
    return _PAGE.format(
        title=title,
        generated=escape(report.generated),
        cells=cells,
        filters=_filters("state", summary.by_state) + _filters("kind", by_kind),
        total=len(shown),
        more=more,
        cards=cards,
    )


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f6f4; color: #222; }}
body > header {{ padding: 1em 2em; background: #fff; border-bottom: 1px solid #ddd; }}
h1 {{ margin: 0 0 .2em; font-size: 1.4em; }}
#summary {{ display: flex; flex-wrap: wrap; gap: 1.5em; margin: .8em 0; }}
#summary div {{ display: flex; flex-direction: column; }}
#summary b {{ font-size: 1.4em; }}
#filters {{ display: flex; flex-wrap: wrap; gap: 1em; }}
fieldset {{ border: 1px solid #ddd; border-radius: 6px; }}
fieldset label {{ margin-right: .8em; white-space: nowrap; }}
main {{ padding: 1em 2em; display: grid; gap: 1em; }}
.job {{ background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: .8em 1em; }}
.job[hidden] {{ display: none; }}
.job header {{ display: flex; align-items: center; gap: .6em; }}
.job h2 {{ font-size: 1.05em; margin: 0; font-family: ui-monospace, monospace; }}
.badge {{ border-radius: 1em; padding: 0 .6em; color: #fff; background: #888; }}
.badge.downloaded, .badge.succeeded {{ background: #2e7d32; }}
.badge.failed {{ background: #c62828; }}
.badge.running, .badge.submitted, .badge.submitting {{ background: #1565c0; }}
.kind {{ color: #666; }}
.media {{ display: grid; grid-template-columns: 1fr 2fr; gap: 1em; }}
.media h3 {{ font-size: .85em; color: #666; margin: .4em 0; text-transform: uppercase; }}
figure {{ display: inline-block; margin: 0 .6em .6em 0; vertical-align: top; }}
figure img, figure video {{ max-width: 320px; max-height: 240px; display: block; }}
figcaption {{ font-size: .8em; color: #666; }}
figure.link {{ max-width: 320px; word-break: break-all; }}
.error {{ background: #fdecea; border-left: 4px solid #c62828; padding: .4em .8em; }}
.meta {{ display: flex; flex-wrap: wrap; gap: .2em 1em; margin: .4em 0 0; color: #555; }}
.meta dt {{ font-weight: 600; }}
.meta dd {{ margin: 0; font-family: ui-monospace, monospace; }}
.none {{ color: #999; }}
</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p>Report written {generated}</p>
<div id="summary">{cells}</div>
<nav id="filters">{filters}</nav>
<p id="shown"><span id="visible">{total}</span> of {total} jobs shown</p>
{more}
</header>
<main id="jobs">{cards}</main>
<script>
(function () {{
  var boxes = document.querySelectorAll("#filters input");
  function chosen(name) {{
    var out = new Set();
    document.querySelectorAll('#filters input[name="' + name + '"]').forEach(function (box) {{
      if (box.checked) out.add(box.value);
    }});
    return out;
  }}
  function apply() {{
    var states = chosen("state"), kinds = chosen("kind"), visible = 0;
    document.querySelectorAll("#jobs .job").forEach(function (job) {{
      var show = states.has(job.dataset.state) && kinds.has(job.dataset.kind);
      job.hidden = !show;
      if (show) visible += 1;
    }});
    document.getElementById("visible").textContent = visible;
  }}
  boxes.forEach(function (box) {{ box.addEventListener("change", apply); }});
  apply();
}})();
</script>
</body>
</html>
"""
