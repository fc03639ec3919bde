"""Writing a comparison: ``compare.json`` (the table), ``compare_details.json``, ``compare.md`` and ``compare.png``.

``compare.json`` maps each method to exactly the figures of the comparison table (``docs/REPORTS.md``)::

    {METHOD: {"psr_seen", "psr_unseen", "psr_unseen_modern", "gallery_psr", "ssimulacra2_face",
              "butteraugli_face", "ssim_face", "psnr", "psr_unseen_jpeg75", "setup_s", "protect_s_per_photo",
              "retrieval_2a_seen", "retrieval_2a_unseen"}}

The last two are top-1 identification rates (lower is better protection) of retrieval case 2a: a
protected photo searched in a database of the user's other protected photos and the distractors
(:mod:`p3mask.evaluate.retrieval`), mean over the seen models and for the unseen one.

Everything else (per-model PSRs, budgets, per-user choices, settings) goes to ``compare_details.json``.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from p3mask.atomic import write_json, write_text  # noqa: E402
from p3mask.compare.schema import CompareReport  # noqa: E402
from p3mask.evaluate.report import save_figure  # noqa: E402
from p3mask.evaluate.retrieval import CASES as RETRIEVAL_CASES  # noqa: E402
from p3mask.reports import as_json_dict  # noqa: E402

TABLE_KEYS = ("psr_seen", "psr_unseen", "psr_unseen_modern", "gallery_psr", "ssimulacra2_face", "butteraugli_face",
              "ssim_face", "psnr",
              "psr_unseen_jpeg75", "setup_s", "protect_s_per_photo", "retrieval_2a_seen", "retrieval_2a_unseen")
_HEADERS = ("method", "query PSR, seen models", "query PSR, unseen (dlib)", "query PSR, unseen modern (w600k_mbf)",
            "gallery PSR",
            "SSIMULACRA2 (face in context)", "Butteraugli max", "face SSIM", "face PSNR (dB)",
            "unseen PSR after JPEG 75", "setup per user (s)", "protect per photo (s)",
            "2a top-1, seen models", "2a top-1, unseen (dlib)")
_DIGITS = (3, 3, 3, 3, 1, 2, 4, 2, 3, 1, 3, 3, 3)
QUALITY_TOLERANCE = 1.0  # baselines count as matched to Chameleon's SSIMULACRA2 within this many points


def _f(value, digits: int) -> str:
    return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.{digits}f}"


def table_rows(report: dict) -> dict[str, dict[str, float]]:
    """``compare.json``'s content: method -> the eight figures, nothing else."""
    return {m: {k: row[k] for k in TABLE_KEYS} for m, row in report["methods"].items()}


def verdict(report: dict) -> list[str]:
    """Plain statements of where Chameleon meets the issue's targets and where it does not."""
    rows = report["methods"]
    if "chameleon" not in rows:
        return ["Chameleon was not part of this run; no verdict."]
    cham = rows["chameleon"]
    out = []
    for m, row in rows.items():
        if m == "chameleon":
            continue
        gap = row["ssimulacra2_face"] - cham["ssimulacra2_face"]
        matched = "matched" if abs(gap) <= QUALITY_TOLERANCE else "NOT matched"
        wins = cham["psr_unseen"] >= row["psr_unseen"]
        line = (f"- vs {m}: unseen-model PSR {_f(cham['psr_unseen'], 3)} vs {_f(row['psr_unseen'], 3)} "
                f"({'Chameleon at least as good' if wins else 'Chameleon WORSE'}); "
                f"seen-model PSR {_f(cham['psr_seen'], 3)} vs {_f(row['psr_seen'], 3)}; "
                f"SSIMULACRA2 gap {gap:+.1f} ({matched} within {QUALITY_TOLERANCE:.0f} point)")
        if row["protect_s_per_photo"] and cham["protect_s_per_photo"]:
            speed = row["protect_s_per_photo"] / cham["protect_s_per_photo"]
            missed = " (target >= 100x NOT met)" if m in ("fawkes", "lowkey") else ""
            target = " (target >= 100x met)" if speed >= 100 else missed
            line += f"; protecting a new photo is {speed:.0f}x faster with Chameleon{target}"
        out.append(line)
    return out


def markdown(report: dict) -> str:
    """The human-readable comparison."""
    rows = report["methods"]
    out = [f"# p3mask compare: {report['dataset']}, {len(report['users'])} users", ""]
    out += ["Query PSR: fraction of protected test photos whose user is not the top-1 identity in the clean "
            "gallery; gallery PSR: fraction of clean test photos not matched to the user when the user's gallery "
            f"entries are protected (mean over all models). Seen models: {', '.join(report['pool'])} "
            f"(every method optimises against them); unseen: {', '.join(report['unseen'])} (never used in "
            "optimisation).", ""]
    body = [[m] + [_f(rows[m][k], d) for k, d in zip(TABLE_KEYS, _DIGITS)] for m in rows]
    out += ["| " + " | ".join(_HEADERS) + " |", "|" + "---|" * len(_HEADERS)]
    out += ["| " + " | ".join(r) + " |" for r in body] + [""]
    clean = report.get("clean_error", {})
    out += ["Clean probes (no protection), top-1 identification error per model: "
            + ", ".join(f"{n} {_f(v, 3)}" for n, v in clean.items()), ""]
    out += ["## Budget", "",
            f"Every baseline is calibrated to SSIMULACRA2 {_f(report['quality_target'], 1)} on the face "
            f"in context ({report['quality_target_source']}): per-photo methods (Fawkes, LowKey) scale each photo's "
            "perturbation to the largest strength keeping SSIMULACRA2 >= the target; OPOM's L-inf bound is calibrated "
            "on the training photos (learn at Chameleon's epsilon, scale the bound until the mean training SSIMULACRA2 "
            "equals the target, learn again inside it, search once more), as Chameleon's quality is set on its "
            "training "
            "photos. All perturbations live in the same canonical face frame.", ""]
    out += ["## Verdict", "", *verdict(report), ""]
    out += retrieval_section(report)
    out += ["## Per-model query top-1 PSR", ""]
    models = list(next(iter(report["details"].values()))["query_top1"])
    out += ["| method | " + " | ".join(models) + " |", "|" + "---|" * (len(models) + 1)]
    out += ["| " + m + " | " + " | ".join(_f(d["query_top1"][n], 3) for n in models) + " |"
            for m, d in report["details"].items()] + [""]
    out += [f"Gallery: {report['gallery']['photos']} photos of {report['gallery']['identities']} identities; "
            f"users: {', '.join(report['users'])}; device {report['device']}; wall time {report['wall_s']:.0f} s.", ""]
    return "\n".join(out)


def retrieval_section(report: dict) -> list[str]:
    """Per method, the top-1 of the four retrieval cases on the unseen model(s) (empty when the
    details carry no retrieval block)."""
    details = {m: d["retrieval"] for m, d in report["details"].items() if d.get("retrieval")}
    if not details:
        return []
    cases = tuple(RETRIEVAL_CASES)
    out = ["## Retrieval: the four cases on the unseen model (top-1 identification; lower is better, except 1b)", "",
           "Each user's test photos are split into queries and database entries, with the gallery's other identities "
           "as distractors: 1a clean query -> protected database, 1b clean -> clean, 2a protected -> the user's other "
           "protected photos, 2b protected -> clean. Every model, precision at k and mean cosines: "
           "compare_details.json.", ""]
    header = ["method", "model", *cases, "cos, two protected photos of a user", "cos, two clean photos of a user"]
    rows = [[m, n, *(_f(block[n]["top1"][c], 3) for c in cases), _f(block[n]["cosine"]["protected_protected"], 3),
             _f(block[n]["cosine"]["clean_clean"], 3)]
            for m, block in details.items() for n in report["unseen"] if n in block]
    out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(r) + " |" for r in rows] + [""]


def plot(report: dict, path: Path, overwrite: bool = False) -> Path:
    """Bars of the PSRs per method, and protection time per photo (log scale)."""
    rows = report["methods"]
    methods = list(rows)
    keys = ("psr_seen", "psr_unseen", "gallery_psr", "psr_unseen_jpeg75")
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 1.3]})
    width = 0.8 / len(keys)
    for i, key in enumerate(keys):
        values = [rows[m][key] if rows[m][key] is not None else math.nan for m in methods]
        ax.bar([x + i * width for x in range(len(methods))], values, width, label=key)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(methods))], methods)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("protection success rate")
    ax.set_title(f"PSR at SSIMULACRA2 ~{_f(report['quality_target'], 1)} (face in context)")
    ax.legend(fontsize=8)
    bx.bar(methods, [rows[m]["protect_s_per_photo"] for m in methods], color="grey")
    bx.set_yscale("log")
    bx.set_ylabel("seconds to protect one new photo")
    bx.tick_params(axis="x", rotation=30)
    return save_figure(fig, path, dpi=120, overwrite=overwrite)


def budget_curves(tables: list[dict[str, dict[str, float]]], key: str) -> dict[str, list[tuple[float, float]]]:
    """Method -> ``(SSIMULACRA2, figure key)`` points over several ``compare.json`` tables, by quality."""
    methods = list(dict.fromkeys(m for table in tables for m in table))
    return {m: sorted((t[m]["ssimulacra2_face"], t[m][key]) for t in tables if m in t and t[m][key] is not None)
            for m in methods}


def plot_budgets(tables: list[dict[str, dict[str, float]]], path: Path, overwrite: bool = False) -> Path:
    """Unseen-model query PSR against SSIMULACRA2, one line per method over several comparisons.

    Args:
        tables: ``compare.json`` contents (method -> figures), one per budget (e.g. Chameleon's ``low``,
            ``mid`` and ``high`` presets with the baselines matched to each).
        path: the PNG to write.
        overwrite: replace ``path`` if it exists.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, key, title in zip(axes, ("psr_unseen", "psr_unseen_modern"), ("dlib", "w600k_mbf")):
        for method, points in budget_curves(tables, key).items():
            ax.plot([q for q, _ in points], [p for _, p in points], marker="o", label=method,
                    linewidth=2.5 if method == "chameleon" else 1.2)
        for band, label in ((80, "not noticeable"), (70, "barely noticeable")):
            ax.axvline(band, color="grey", linestyle=":", linewidth=1)
            ax.text(band, 1.02, label, fontsize=7, ha="center", color="grey")
        ax.set_xlabel("SSIMULACRA2, face in context (higher: less visible)")
        ax.set_title(f"held out: {title}")
        ax.set_ylim(0, 1.08)
    axes[0].set_ylabel("query top-1 PSR (higher: better protection)")
    axes[0].legend(fontsize=8)
    return save_figure(fig, path, dpi=120, overwrite=overwrite)


# Files write_report writes (checked before the comparison runs, so an existing one is never replaced).
REPORT_FILES = ("compare.json", "compare_details.json", "compare.md", "compare.png")


def write_report(report: CompareReport | dict, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
    """Write the four files into ``out_dir`` (created); returns their paths."""
    report = as_json_dict(report)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [write_json(table_rows(report), out_dir / "compare.json", overwrite=overwrite),
             write_json(report, out_dir / "compare_details.json", overwrite=overwrite),
             write_text(markdown(report), out_dir / "compare.md", overwrite=overwrite),
             plot(report, out_dir / "compare.png", overwrite)]
    return paths


def summary(report: CompareReport | dict) -> str:
    """A few lines for the terminal."""
    report = as_json_dict(report)
    lines = [f"{'method':<10} {'seen':>6} {'unseen':>7} {'gallery':>8} {'SSIM':>7} {'jpeg75':>7} {'setup s':>8} "
             f"{'protect s':>10} {'2a seen':>8} {'2a unseen':>10}"]
    for m, r in report["methods"].items():
        lines.append(f"{m:<10} {_f(r['psr_seen'], 3):>6} {_f(r['psr_unseen'], 3):>7} {_f(r['gallery_psr'], 3):>8} "
                     f"{_f(r['ssim_face'], 4):>7} {_f(r['psr_unseen_jpeg75'], 3):>7} {_f(r['setup_s'], 1):>8} "
                     f"{_f(r['protect_s_per_photo'], 3):>10} {_f(r.get('retrieval_2a_seen'), 3):>8} "
                     f"{_f(r.get('retrieval_2a_unseen'), 3):>10}")
    lines.append("(seen/unseen/gallery/jpeg75: protection success rates; 2a: top-1 rate of a protected photo "
                 "finding the user's other protected photos, lower is better)")
    return "\n".join(lines + verdict(report))
