"""Outcomes: the headline effects table and forest plot, and the findings by domain."""

from __future__ import annotations

import re

import pandas as pd

from evalkit.evaluation.provenance import collect, render_info
from evalkit.report.markdown_text import md_text
from evalkit.report.summary import md_table


def _package_table(packages: dict[str, str], pairs: int = 3) -> str:
    """Package versions as a pipe table of ``pairs`` (package, version) column pairs, read
    down each pair of columns; a long table that breaks across pages."""
    items = list(packages.items())
    rows = -(-len(items) // pairs) if items else 0
    head = "| " + " | ".join(["Package | Version"] * pairs) + " |"
    rule = "|" + "|".join(["-----|---"] * pairs) + "|"  # names wider than versions
    body = []
    for i in range(rows):
        cells = []
        for j in range(pairs):
            k = j * rows + i
            cells += list(items[k]) if k < len(items) else ["", ""]
        # A zero-width space after each underscore lets long names (ipython_pygments_lexers)
        # wrap in a narrow PDF column instead of running into the margin.
        body.append("| " + " | ".join(md_text(c).replace("\\_", "\\_\u200b")
                                      for c in cells) + " |")
    return "\n".join([head, rule, *body])


def provenance_markdown(paths, parameters: dict, *, folder) -> str:
    """A report's provenance appendix: input hashes, git state (commit and dirty flag),
    parameters, the render engine with its version, the time of rendering, and packages.

    The engine and the time come from :func:`evalkit.evaluation.provenance.render_info` while the
    report renders; they are in no results file and not in the render cache key.
    """
    prov = collect(paths, parameters, folder=folder)
    render = render_info()
    git = prov["git"]
    inputs = pd.DataFrame([{"File": k, "SHA-256": v["sha256"]}
                           for k, v in prov["inputs"].items()])
    params = pd.DataFrame([{"Parameter": k, "Value": str(v)}
                           for k, v in prov["parameters"].items()])
    commit = git["commit"] or "not in a git checkout"
    dirty = {True: "yes", False: "no", None: "unknown (not in a git checkout)"}[git["dirty"]]
    commit = (f"`{commit}`" if re.fullmatch(r"[0-9a-f]{7,64}", commit)  # a hash, in code
              else md_text(commit))
    facts = pd.DataFrame([
        {"Item": "evalkit", "Value": md_text(prov["evalkit_version"])},
        {"Item": "Python", "Value": md_text(prov["python"])},
        {"Item": "Platform", "Value": md_text(prov["platform"])},
        {"Item": "Git commit", "Value": commit},
        {"Item": "Uncommitted changes (git dirty flag)", "Value": dirty},
        {"Item": "Render engine and version", "Value": md_text(render["engine"])},
        {"Item": "Rendered at (UTC)", "Value": md_text(render["rendered_at"])},
    ])
    return "\n".join([
        md_table(facts, markdown=["Value"]), "",
        ": How and when this report was made {#tbl-provenance}", "",
        "**Parameters**", "", md_table(params), "",
        "**Input data**", "", md_table(inputs), "",
        "**Package versions**", "", _package_table(prov["packages"]), "",
    ])
