"""Writing an evaluation report: ``report.json`` (machines), ``report.md`` (people) and PNG plots.

Plots (matplotlib, Agg backend, no display needed):

* ``psr_per_model.png``: query top-1/top-5, gallery top-1 and verification PSR for every model, the
  models never used in training marked;
* ``psr_vs_ssimulacra2.png``: query top-1 PSR per model against SSIMULACRA2 (face in context), one point per preset;
* ``robustness.png``: query top-1 PSR against transform strength, one panel per transform family, one
  line per model (the untouched protected photo as the first point).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from p3mask.atomic import atomic_path, json_safe, write_json, write_text  # noqa: E402
from p3mask.evaluate.retrieval import CASES as RETRIEVAL_CASES  # noqa: E402
from p3mask.evaluate.retrieval import COSINES as RETRIEVAL_COSINES  # noqa: E402
from p3mask.evaluate.schema import EvalReport  # noqa: E402
from p3mask.evaluate.transforms import IDENTITY_LEVEL, TRANSFORMS  # noqa: E402
from p3mask.reports import as_json_dict  # noqa: E402

PSR_COLUMNS = ("query_top1", "query_top5", "gallery_top1", "verification")


def _num(value) -> float:
    """``None`` (a NaN in JSON) -> nan, for plotting."""
    return math.nan if value is None else float(value)


def _f(value, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _model_table(block: dict, models: list[str], note: str) -> list[str]:
    names = list(block)
    rows = [[name] + [_f(block[name].get(m)) for m in models] for name in names]
    return [note, ""] + _table(["condition"] + models, rows) + [""]


def markdown(report: dict) -> str:
    """The human-readable report."""
    psr, models = report["psr"], list(report["psr"])
    out = [f"# p3mask evaluation: {report['dataset']}, {report['users']} users", ""]
    out += ["Protection success rate (PSR): the fraction of attempts in which the recogniser fails to find the user. "
            "Higher is better protection. Models marked * were never in any user's team (black-box).", ""]
    rows = [[name + ("" if psr[name]["seen_in_training"] else " *")] + [_f(psr[name][c]) for c in PSR_COLUMNS]
            + [_f(psr[name].get("query_top1_in_team")), _f(report.get("clean_error", {}).get(name))]
            for name in models]
    header = ["model", *PSR_COLUMNS, "query_top1, users whose team had it", "clean top-1 error"]
    out += ["## PSR per model", ""] + _table(header, rows) + [""]
    out += retrieval_markdown(report.get("retrieval", {}), psr)
    q = report["quality"]
    out += ["## Image quality (mean over protected test photos)", "",
            f"- SSIMULACRA2, face in context {_f(q['ssimulacra2_face'], 1)} (min {_f(q['ssimulacra2_face_min'], 1)}), "
            f"whole photo {_f(q['ssimulacra2_full'], 1)}",
            f"- Butteraugli max, face in context {_f(q['butteraugli_face'], 2)} (worst "
            f"{_f(q['butteraugli_face_max'], 2)}; "
            f"photos SSIMULACRA2 calls barely noticeable but Butteraugli badly damaged: {q['gamed']})",
            f"- CIEDE2000 on the face {_f(q['ciede2000_face'], 2)} mean, {_f(q['ciede2000_over3_face'], 3)} of pixels "
            "over 3",
            f"- face-region SSIM {_f(q['ssim_face'], 4)} (min {_f(q['ssim_face_min'], 4)}), "
            f"PSNR {_f(q['psnr_face'], 2)} dB",
            f"- whole-photo SSIM {_f(q['ssim_full'], 4)}, PSNR {_f(q['psnr_full'], 2)} dB",
            f"- LPIPS: {q['lpips']}", ""]
    a = report["authorized"]
    out += ["## Authorised recogniser with the key (top-1 accuracy, mean over models)", "",
            f"- clean photos {_f(a['top1_clean'])}; unlocked with the user's key {_f(a['top1_unlocked'])}; "
            f"'unlocked' with another user's key {_f(a['top1_wrong_key'])}", ""]
    out += ["## Robustness: query top-1 PSR after a scraper's transform", ""]
    out += _model_table(report["robustness"], models, "Protected photos transformed:")
    out += _model_table(report["robustness_clean_error"], models,
                        "For comparison, top-1 error on *clean* photos under the same transform:")
    if "adaptive" in report:
        out += ["## Adaptive adversaries (query top-1 PSR; `rethreshold`: verification PSR)", ""]
        out += _model_table(report["adaptive"], models, "")
        re = report.get("adaptive_details", {}).get("rethreshold", {})
        if re:
            far = ", ".join(f"{m} {_f(re[m].get('far_at_adapted'))}" for m in models if m in re)
            out += ["The re-fitted thresholds accept clean photos of *other* people this often (false-accept rate "
                    f"on the gallery's impostor pairs; 0.001 before): {far}.", ""]
    t = report["timing"]
    out += ["## Timing", "", f"- learning: {_f(t['learn_s_per_user'], 1)} s per user; "
            f"protection: {_f(t['protect_ms_per_photo'], 1)} ms per photo (detection included)"]
    out += [f"- {name}: {_f(sec, 1)} s" for name, sec in t.get("phases_s", {}).items()]
    out += [f"- whole run: {_f(report.get('wall_s'), 1)} s on {report.get('device', '?')}", ""]
    pres = report.get("presets", {})
    if pres:
        rows = [[p, _f(v.get("epsilon", math.nan) * 255, 1), _f(v["ssimulacra2_face"], 1),
                 _f(v["ssimulacra2_face_min"], 1),
                 _f(v["butteraugli_face"], 2), _f(v["ssim_face"], 4)]
                + [_f(v["psr"].get(m)) for m in models] for p, v in pres.items()]
        header = ["preset", "RGB bound x255", "SSIMULACRA2 face", "min", "Butteraugli max", "SSIM face", *models]
        out += ["## Presets (query top-1 PSR)", ""] + _table(header, rows) + [""]
    users = report.get("per_user", [])
    if users:
        rows = [[u["name"], ",".join(u["team"]), str(u["train_photos"]), str(u["test_photos"]),
                 _f(u["learn_s"], 1), _f(u["ssimulacra2_face_min"], 1), _f(u["ssim_face_min"], 4)] for u in users]
        out += ["## Users", ""] + _table(["user", "team", "train", "test", "learn s", "min SSIMULACRA2", "min SSIM"],
                                         rows) + [""]
    return "\n".join(out)


def retrieval_markdown(block: dict, psr: dict | None = None) -> list[str]:
    """The report's section on the four retrieval cases (empty without a ``retrieval`` block)."""
    if not block:
        return []
    psr = psr or {}
    unseen = lambda m: " *" if m in psr and not psr[m]["seen_in_training"] else ""  # noqa: E731
    rows = [[m + unseen(m)] + [_f(v["top1"][c]) for c in RETRIEVAL_CASES]
            + [_f(v["precision_at_k"][c]) for c in RETRIEVAL_CASES]
            for m, v in block.items()]
    cos = [[m + unseen(m)] + [_f(v["cosine"][k]) for k in RETRIEVAL_COSINES] for m, v in block.items()]
    first = next(iter(block.values()))
    skipped = first["skipped"]
    out = ["## Retrieval: the four cases (top-1 identification and precision at k)", "",
           "Each user's test photos are split into queries and database entries; every other identity's photos are "
           "distractors in the database. 1a clean query -> the user's protected photos; 1b clean -> clean (sanity); "
           "**2a protected query -> the user's other protected photos**; 2b protected -> clean. These are recogniser "
           "success rates: lower is better protection, except 1b. k = the user's database entries. "
           f"Users: {first['users']}, queries: {first['queries']}, their database entries: {first['entries']}"
           + (f"; left out (fewer than 2 test photos): {', '.join(skipped)}." if skipped else "."), ""]
    out += _table(["model", *(f"top-1 {c}" for c in RETRIEVAL_CASES), *(f"P@k {c}" for c in RETRIEVAL_CASES)], rows)
    out += ["", "Mean cosine between two photos:", ""]
    out += _table(["model", "protected, same user", "clean, same user", "protected and clean, same user",
                   "clean, different people"], cos) + [""]
    return out


def plot_psr_per_model(report: dict, path: Path, overwrite: bool = False) -> Path:
    """Grouped bars: every PSR column for every model."""
    psr = report["psr"]
    models = list(psr)
    fig, ax = plt.subplots(figsize=(1.6 * len(models) + 2, 4))
    width = 0.8 / len(PSR_COLUMNS)
    for j, column in enumerate(PSR_COLUMNS):
        values = [_num(psr[m][column]) for m in models]
        ax.bar([i + j * width for i in range(len(models))], values, width, label=column)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(models))])
    ax.set_xticklabels([m + ("" if psr[m]["seen_in_training"] else "\n(unseen)") for m in models])
    ax.set_ylim(-0.03, 1.05)
    ax.set_ylabel("protection success rate")
    ax.set_title(f"{report['dataset']}: PSR per model ({report['users']} users)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return save_figure(fig, path, overwrite=overwrite)


def plot_psr_vs_quality(report: dict, path: Path, overwrite: bool = False) -> Path:
    """One point per preset and model: query top-1 PSR against SSIMULACRA2 of the face in context."""
    fig, ax = plt.subplots(figsize=(7, 4))
    key = "ssimulacra2_face"
    presets = dict(sorted(report["presets"].items(), key=lambda kv: -_num(kv[1][key])))  # lines run left to right
    models = list(report["psr"])
    for m in models:
        xs = [_num(v[key]) for v in presets.values()]
        ys = [_num(v["psr"].get(m)) for v in presets.values()]
        ax.plot(xs, ys, "o-", label=m)
    for p, v in presets.items():
        ax.annotate(p, (_num(v[key]), 1.0), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=8)
    ax.invert_xaxis()  # left: invisible; right: more visible
    ax.axvline(70.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("SSIMULACRA2, face in context (mean)\n80 not noticeable, 70 barely noticeable side by side")
    ax.set_ylabel("query top-1 PSR")
    ax.set_ylim(-0.03, 1.08)
    ax.set_title("protection against perceptibility, per preset")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: the points reach every corner
    return save_figure(fig, path, overwrite=overwrite)


def plot_robustness(report: dict, path: Path, overwrite: bool = False) -> Path:
    """One panel per transform family: PSR against strength, one line per model."""
    rob = report["robustness"]
    families = list(dict.fromkeys(TRANSFORMS[n].family for n in rob))
    models = list(report["psr"])
    fig, axes = plt.subplots(1, max(len(families), 1), figsize=(3.6 * max(len(families), 1), 3.4), squeeze=False)
    for ax, family in zip(axes[0], families):
        names = [n for n in rob if TRANSFORMS[n].family == family]
        levels = [IDENTITY_LEVEL[family]] + [TRANSFORMS[n].level for n in names]
        for m in models:
            ys = [_num(report["psr"][m]["query_top1"])] + [_num(rob[n].get(m)) for n in names]
            ax.plot(levels, ys, "o-", label=m)
        ax.set_title(family)
        ax.set_ylim(-0.03, 1.05)
        units = {"jpeg": "quality", "downscale": "scale", "blur": "sigma (px)", "median": "window"}
        ax.set_xlabel(units.get(family, "level"))
        if family in ("jpeg", "downscale"):
            ax.invert_xaxis()  # stronger to the right
    axes[0][0].set_ylabel("query top-1 PSR")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("robustness of protection to a scraper's transforms")
    return save_figure(fig, path, overwrite=overwrite)


def save_figure(fig, path: Path, dpi: int = 110, overwrite: bool = False) -> Path:
    """Lay out ``fig``, write it to ``path`` as PNG with :func:`p3mask.atomic.atomic_path` and close it."""
    fig.tight_layout()
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)
    return path


# Files write_report may write (checked before the evaluation runs, so an existing one is never replaced).
REPORT_FILES = ("report.json", "report.md", "psr_per_model.png", "psr_vs_ssim.png", "robustness.png")


def write_report(report: EvalReport | dict, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
    """Write ``report.json``, ``report.md`` and the PNG plots into ``out_dir``; return the paths."""
    report = as_json_dict(report)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    safe = json.loads(json.dumps(json_safe(report)))  # what the JSON says is what the tables show
    paths = [write_json(report, out / "report.json", overwrite=overwrite)]
    paths.append(write_text(markdown(safe) + "\n", out / "report.md", overwrite=overwrite))
    paths.append(plot_psr_per_model(safe, out / "psr_per_model.png", overwrite))
    paths.append(plot_psr_vs_quality(safe, out / "psr_vs_ssimulacra2.png", overwrite))
    if safe.get("robustness"):
        paths.append(plot_robustness(safe, out / "robustness.png", overwrite))
    return paths


def summary(report: EvalReport | dict) -> str:
    """A few lines for the terminal."""
    report = as_json_dict(report)
    lines = [f"{report['dataset']}: {report['users']} users, query top-1 PSR per model:"]
    for name, v in report["psr"].items():
        tag = "" if v["seen_in_training"] else " (never in training)"
        lines.append(f"  {name:<14} top-1 {_f(v['query_top1'])}  top-5 {_f(v['query_top5'])}  "
                     f"gallery {_f(v['gallery_top1'])}  verification {_f(v['verification'])}{tag}")
    if report.get("retrieval"):
        lines.append("retrieval top-1 (1a clean->protected db, 1b clean->clean, 2a protected->protected, "
                     "2b protected->clean) and mean cosine of two protected / two clean photos of a user:")
        for name, v in report["retrieval"].items():
            t, c = v["top1"], v["cosine"]
            lines.append(f"  {name:<14} 1a {_f(t['1a'])}  1b {_f(t['1b'])}  2a {_f(t['2a'])}  2b {_f(t['2b'])}  "
                         f"cos prot {_f(c['protected_protected'])}  clean {_f(c['clean_clean'])}")
    q, a = report["quality"], report["authorized"]
    lines.append(f"SSIMULACRA2 (face in context) {_f(q['ssimulacra2_face'], 1)} (min "
                 f"{_f(q['ssimulacra2_face_min'], 1)}), "
                 f"Butteraugli max {_f(q['butteraugli_face'], 2)}, face SSIM {_f(q['ssim_face'], 4)}, "
                 f"whole-photo PSNR {_f(q['psnr_full'], 1)} dB")
    lines.append(f"with the key: top-1 clean {_f(a['top1_clean'])}, unlocked {_f(a['top1_unlocked'])}, "
                 f"wrong key {_f(a['top1_wrong_key'])}")
    return "\n".join(lines)
