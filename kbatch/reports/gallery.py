"""The HTML report: one self-contained static page, a dense grid of every job.

The page needs no network when it is viewed: its style and script are inline, result files are
loaded by paths relative to the page (it lives in the output folder), a base64 input is shown as
a small embedded thumbnail, and an input given as a URL is a link, never fetched. Each card
shows the job's outputs (images, and videos in players), its input images, its prompt, a badge
for its state, the error of a failed job, and its task id, attempts, time and units.

It stays fast at tens of thousands of jobs: cards are laid out only when near the screen
(``content-visibility``), images load lazily, and a video gets its source only when its card
comes near the screen. Filters by state and kind, and a search by id and prompt, work without a
server.
"""

from __future__ import annotations

from html import escape
from typing import TextIO
from urllib.parse import quote

from kbatch.reports import totals
from kbatch.reports.model import Input, JobReport, Report, ReportTotals


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
    if kind in ("element", "voice"):  # slice records: a JSON record, linked
        link = f'<a href="{_src(path)}">{kind} record</a>'
        return f'<figure class="out link">{link}<figcaption>{name}</figcaption></figure>'
    if kind == "video":  # the source is set by the page's script when the card is near
        player = f'<video controls muted preload="none" data-src="{_src(path)}"></video>'
        return f'<figure class="out">{player}<figcaption>{name}</figcaption></figure>'
    if kind == "audio":  # speech, a sound (its mp3 and its wav), a video's sound
        player = f'<audio controls preload="none" src="{_src(path)}"></audio>'
        return f'<figure class="out sound">{player}<figcaption>{name}</figcaption></figure>'
    return (
        f'<figure class="out"><a href="{_src(path)}"><img src="{_src(path)}" alt="{name}" '
        f'loading="lazy"></a><figcaption>{name}</figcaption></figure>'
    )


def _job(job: JobReport, inputs: tuple[Input, ...]) -> str:
    outs = "".join(_output(p, k) for p, k in zip(job.outputs, job.output_kinds, strict=True))
    if not outs and job.result_urls:
        outs = '<p class="none">not downloaded; URLs in report.csv</p>'
    outs = outs or f'<p class="none">{"no result" if job.state == "failed" else "none yet"}</p>'
    ins = "".join(_input(item) for item in inputs)
    ins = f'<div class="inputs">{ins}</div>' if ins else ""
    prompt = job.source.get("prompt") if job.source is not None else None
    text = escape(prompt) if isinstance(prompt, str) else ""
    said = f'<p class="prompt" title="{text}">{text}</p>' if text else ""
    facts = [
        ("task", job.task_id or "-"),
        ("attempts", str(job.attempts)),
        ("seconds", "-" if job.seconds is None else f"{job.seconds:g}"),
        ("units", f"{job.units:g}" + (" (estimated)" if job.charged == "estimated" else "")),
    ]
    if job.charged == "partly":
        facts.append(("charged", f"{job.charged_units or 0:g}, the rest estimated"))
    if job.charged_amount is not None:
        facts.append(("cash", f"{job.charged_amount:g} {job.charged_currency or ''}".strip()))
    meta = "".join(f"<dt>{k}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    error = ""
    if job.error_message:
        code = f" {escape(job.error_code)}" if job.error_code else ""
        reason = escape(job.error_reason or "error")
        error = f'<p class="error"><b>{reason}{code}</b>: {escape(job.error_message)}</p>'
    state, kind = escape(job.state), escape(job.kind)
    removed = '<span class="badge removed">removed</span>' if job.removed else ""
    search = escape(f"{job.id} {prompt if isinstance(prompt, str) else ''}".lower(), quote=True)
    return (
        f'<article class="job" data-state="{state}" data-kind="{kind}" data-search="{search}">'
        f'<div class="outputs">{outs}</div>'
        f'<header><h2 title="{escape(job.id)}">{escape(job.id)}</h2>'
        f'<span class="badge {state}">{state}</span>{removed}</header>'
        f'<p class="kind">{kind}</p>{said}{error}{ins}'
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


def write(report: Report, stream: TextIO, *, limit: int) -> None:
    """The page, card by card: a gallery of 20,000 jobs is never one string in memory."""
    stream.write(_head(report, limit))
    for job in report.jobs[:limit]:
        stream.write(_job(job, report.inputs.get(job.id, ())))
    stream.write(_TAIL)


def _charged(summary: ReportTotals) -> list[tuple[str, str]]:
    """The summary's figures of what was spent (:mod:`kbatch.reports.totals`)."""
    current, paid = summary.totals.current, summary.totals.paid
    out = [(f"units spent by {totals.CURRENT}", totals.show(current.units))]
    if current.estimated:
        out.append(("of them estimated (no charge reported)", totals.show(current.estimated)))
    if current.cash:
        out.append(("cash charged", totals.show_cash(current.cash)))
    if paid.units != current.units or paid.cash != current.cash:
        cash = f"; cash {totals.show_cash(paid.cash)}" if paid.cash else ""
        out.append((totals.PAID, totals.show(paid.units) + cash))
    return out


def _head(report: Report, limit: int) -> str:
    """The page up to its first card: title, summary figures, filters."""
    summary = report.summary
    shown = min(limit, len(report.jobs))
    by_kind = {kind: sum(states.values()) for kind, states in summary.by_kind.items()}
    figures = [
        ("jobs", str(summary.jobs)),
        ("done", str(summary.done)),
        ("failed", str(summary.by_state.get("failed", 0))),
        *_charged(summary),
        ("wall time", "-" if summary.wall_seconds is None else f"{summary.wall_seconds:g} s"),
        ("jobs per hour", "-" if summary.jobs_per_hour is None else f"{summary.jobs_per_hour:g}"),
    ]
    cells = "".join(f"<div><b>{escape(v)}</b><span>{k}</span></div>" for k, v in figures)
    more = ""
    if len(report.jobs) > shown:
        more = (
            f'<p class="more">The gallery shows the first {shown} of {len(report.jobs)} '
            "jobs; report.csv and report.json list them all.</p>"
        )
    return _HEAD.format(
        title=escape(f"kbatch: {report.name}"),
        generated=escape(report.generated),
        cells=cells,
        filters=_filters("state", summary.by_state) + _filters("kind", by_kind),
        total=shown,
        more=more,
    )


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 13px/1.35 system-ui, sans-serif; margin: 0; background: #f6f6f4; color: #222; }}
body > header {{ padding: .8em 1.5em; background: #fff; border-bottom: 1px solid #ddd; }}
h1 {{ margin: 0 0 .2em; font-size: 1.3em; }}
#summary {{ display: flex; flex-wrap: wrap; gap: 1.5em; margin: .6em 0; }}
#summary div {{ display: flex; flex-direction: column; }}
#summary b {{ font-size: 1.3em; }}
#filters {{ display: flex; flex-wrap: wrap; gap: .8em; align-items: center; }}
#filters input[type=search] {{ font: inherit; padding: .3em .5em; min-width: 16em; }}
fieldset {{ border: 1px solid #ddd; border-radius: 6px; }}
fieldset label {{ margin-right: .8em; white-space: nowrap; }}
main {{ padding: 1em 1.5em; display: grid; gap: .8em;
  grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); }}
.job {{ background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .5em;
  min-width: 0; content-visibility: auto; contain-intrinsic-size: auto 320px; }}
.job[hidden] {{ display: none; }}
.job header {{ display: flex; align-items: center; gap: .4em; margin-top: .3em; }}
.job h2 {{ font-size: 1em; margin: 0; font-family: ui-monospace, monospace; flex: 1;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }}
.badge {{ border-radius: 1em; padding: 0 .5em; color: #fff; background: #888; font-size: .85em; }}
.badge.downloaded, .badge.succeeded {{ background: #2e7d32; }}
.badge.failed {{ background: #c62828; }}
.badge.running, .badge.submitted, .badge.submitting {{ background: #1565c0; }}
.badge.removed {{ background: #6d4c41; }}
.kind {{ color: #666; margin: 0; font-size: .85em; }}
.prompt {{ margin: .2em 0; display: -webkit-box; -webkit-line-clamp: 3;
  -webkit-box-orient: vertical; overflow: hidden; }}
.outputs {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(100px, 1fr)); gap: 3px;
  min-height: 120px; background: #eee; border-radius: 4px; }}
.outputs figure {{ margin: 0; }}
.outputs img, .outputs video {{ width: 100%; height: 160px; object-fit: contain; display: block;
  background: #222; }}
.outputs audio {{ width: 100%; margin-top: 60px; }}
.inputs {{ display: flex; flex-wrap: wrap; gap: 3px; margin: .3em 0; }}
.inputs figure {{ max-width: 80px; }}
.inputs img {{ height: 40px; width: auto; max-width: 80px; display: block; }}
.inputs figure.link {{ font-size: .75em; max-width: 100%; word-break: break-all; }}
figure {{ margin: 0; }}
figcaption {{ font-size: .75em; color: #666; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }}
.error {{ background: #fdecea; border-left: 3px solid #c62828; padding: .2em .5em; margin: .3em 0;
  font-size: .9em; overflow-wrap: anywhere; }}
.meta {{ display: grid; grid-template-columns: auto 1fr auto 1fr; gap: 0 .5em; margin: .3em 0 0;
  color: #555; font-size: .8em; }}
.meta dt {{ font-weight: 600; }}
.meta dd {{ margin: 0; font-family: ui-monospace, monospace; overflow: hidden;
  text-overflow: ellipsis; }}
.none {{ color: #999; align-self: center; text-align: center; }}
</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p>Report written {generated}</p>
<div id="summary">{cells}</div>
<nav id="filters">{filters}<input type="search" id="search" placeholder="search id or prompt"
aria-label="search by id or prompt"></nav>
<p id="shown"><span id="visible">{total}</span> of {total} jobs shown</p>
{more}
</header>
<main id="jobs">{cards}</main>
<script>
(function () {{
  var jobs = Array.prototype.slice.call(document.querySelectorAll("#jobs .job"));
  var search = document.getElementById("search");
  function chosen(name) {{
    var out = new Set();
    document.querySelectorAll('#filters input[name="' + name + '"]').forEach(function (box) {{
      if (box.checked) out.add(box.value);
    }});
    return out;
  }}
  function apply() {{
    var states = chosen("state"), kinds = chosen("kind"), visible = 0;
    var words = search.value.toLowerCase().split(/\\s+/).filter(Boolean);
    for (var i = 0; i < jobs.length; i++) {{
      var job = jobs[i], text = job.dataset.search;
      var show = states.has(job.dataset.state) && kinds.has(job.dataset.kind) &&
        words.every(function (word) {{ return text.indexOf(word) >= 0; }});
      if (job.hidden === show) job.hidden = !show;
      if (show) visible += 1;
    }}
    document.getElementById("visible").textContent = visible;
    document.getElementById("jobs").dataset.search = search.value;  // what is applied
  }}
  var timer = null;
  document.querySelectorAll("#filters input[type=checkbox]").forEach(function (box) {{
    box.addEventListener("change", apply);
  }});
  search.addEventListener("input", function () {{
    clearTimeout(timer);
    timer = setTimeout(apply, 120);
  }});
  function load(video) {{
    if (!video.src) {{ video.preload = "metadata"; video.src = video.dataset.src; }}
  }}
  var videos = document.querySelectorAll("video[data-src]");
  if ("IntersectionObserver" in window) {{
    var seen = new IntersectionObserver(function (entries) {{
      entries.forEach(function (entry) {{
        if (entry.isIntersecting) {{ load(entry.target); seen.unobserve(entry.target); }}
      }});
    }}, {{ rootMargin: "400px" }});
    videos.forEach(function (video) {{ seen.observe(video); }});
  }} else {{
    videos.forEach(load);
  }}
  apply();
}})();
</script>
</body>
</html>
"""

_HEAD, _TAIL = _PAGE.split("{cards}")
_TAIL = _TAIL.format()  # no fields: only its doubled braces to undo
