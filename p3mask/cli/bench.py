"""``p3mask bench ...``: benchmarks that print figures and write them to a JSON file."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from p3mask.atomic import WriteError, check_target, write_json
from p3mask.cli.options import add_device_argument
from p3mask.cli.reporting import fail
from p3mask.models import MODELS
from p3mask.protect.config import PRESETS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench", help="benchmarks: LFW verification, threshold calibration, speed of learning and of protecting")
    kinds = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    verify = kinds.add_parser("verify", help="LFW View 2 verification: accuracy, FAR=1e-3 threshold, faces/s")
    verify.add_argument("--dataset", choices=["lfw"], default="lfw", help="verification protocol (LFW View 2)")
    verify.add_argument("--root", type=Path, help="dataset folder (default: $P3MASK_DATA/lfw or ../shared/data/lfw)")
    verify.add_argument("--pairs", type=int, metavar="N", help="use only the first N pairs (quick check)")
    verify.add_argument("--models", nargs="+", choices=list(MODELS), metavar="NAME",
                        help="models to test (default: all)")
    add_device_argument(verify)
    _add_json_arguments(verify)
    verify.set_defaults(func=run_verify_cmd)
    calibrate = kinds.add_parser("calibrate", help="match thresholds at FAR=1e-3 (and doubt thresholds "
                               "at FAR=1e-2) from LFW impostor pairs")
    calibrate.add_argument("--root", type=Path, help="LFW folder (default: $P3MASK_DATA/lfw or ../shared/data/lfw)")
    calibrate.add_argument("--identities", type=int, default=400, help="one photo each of N people (default 400)")
    calibrate.add_argument("--models", nargs="+", choices=list(MODELS), metavar="NAME", help="default: all")
    add_device_argument(calibrate)
    _add_json_arguments(calibrate)
    calibrate.set_defaults(func=run_calibrate_cmd)
    _add_learn(kinds)
    _add_protect(kinds)
    _add_choice(kinds)
    _add_video(kinds)
    _add_scale(kinds)


def _add_json_arguments(parser: argparse.ArgumentParser,
                        overwrite_help: str = "replace FILE if it exists (default: refuse)") -> None:
    """``--json FILE`` and ``--overwrite``, as every benchmark takes them."""
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE")
    parser.add_argument("--overwrite", action="store_true", help=overwrite_help)


def _add_learn(kinds: argparse._SubParsersAction) -> None:
    learn = kinds.add_parser("learn", help="time learning one key from N LFW photos (target: 20 photos, mid, <= 30 s)")
    learn.add_argument("--dataset", choices=["lfw"], default="lfw", help="photos from LFW (the only choice)")
    learn.add_argument("--root", type=Path, help="LFW folder (default: $P3MASK_DATA/lfw or ../shared/data/lfw)")
    learn.add_argument("--user", help="LFW identity (default: the first, sorted, with 20+ photos)")
    learn.add_argument("--photos", type=int, default=20, metavar="N", help="the user's first N photos (default 20)")
    learn.add_argument("--preset", choices=list(PRESETS), default="mid", help="default mid")
    learn.add_argument("--epochs", type=int, metavar="N", help="passes over the photos (default: the preset's)")
    learn.add_argument("--threads", type=int, metavar="T", help="torch and OpenCV threads (default: theirs)")
    add_device_argument(learn)
    learn.add_argument("--seed", type=int, default=0, help="learning seed (default 0)")
    learn.add_argument("--profile", type=Path, metavar="DIR", help="also record a torch.profiler trace of learning "
                       "into DIR (learn_trace.json, learn_ops.txt; --overwrite replaces them); it slows the run")
    _add_json_arguments(learn)
    learn.set_defaults(func=run_learn_cmd)


def _add_protect(kinds: argparse._SubParsersAction) -> None:
    protect = kinds.add_parser("protect", help="time detection and applying a key per LFW photo (target: <= 50 ms "
                               "after detection)")
    protect.add_argument("--dataset", choices=["lfw"], default="lfw", help="photos from LFW (the only choice)")
    protect.add_argument("--root", type=Path, help="LFW folder (default: $P3MASK_DATA/lfw or ../shared/data/lfw)")
    protect.add_argument("--user", help="LFW identity (default: the key's user, else the first with 20+ photos)")
    protect.add_argument("--photos", type=int, metavar="N", help="protect at most N photos (default: all)")
    protect.add_argument("--key", type=Path, metavar="KEY.p3m", help="key to apply (default: learn one "
                         "on the user's first 10 photos, mid preset, and protect the others)")
    protect.add_argument("--skip", type=int, metavar="N", help="leave out the user's first N photos, e.g. those the "
                         "key was learned from (default: 0 with --key, the quick key's 10 without)")
    protect.add_argument("--threads", type=int, metavar="T", help="torch and OpenCV threads (default: theirs)")
    protect.add_argument("--repeat", type=int, default=1, metavar="R", help="time each photo R times (default 1)")
    _add_json_arguments(protect)
    protect.set_defaults(func=run_protect_cmd)


def check_json(bench: str, args: argparse.Namespace) -> int:
    """Before a benchmark runs: 0 when its ``--json`` file may be written, else the exit status of the
    one-line error (the file exists without ``--overwrite``, or is a folder)."""
    try:
        if args.json:
            check_target(args.json, args.overwrite)
    except WriteError as exc:
        return fail(f"bench {bench}", exc)
    return 0


def check_strip(args: argparse.Namespace) -> int:
    """Before ``bench video`` runs: 0 when its ``--strip`` picture may be written, else the exit status of
    the one-line error."""
    try:
        if args.strip:
            check_target(args.strip, args.overwrite)
    except WriteError as exc:
        return fail("bench video", exc)
    return 0


def _add_choice(kinds: argparse._SubParsersAction) -> None:
    choice = kinds.add_parser("choice", help="faces protect chooses on LFW users: users' photos left bare, strangers "
                              "masked (fail-safe and strict)")
    choice.add_argument("--root", type=Path, help="LFW folder (default: $P3MASK_DATA/lfw or ../shared/data/lfw)")
    choice.add_argument("--users", type=int, default=20,
                        help="users drawn as `p3mask evaluate` draws them (default 20)")
    choice.add_argument("--others", type=int, default=2,
                        help="strangers' photos pasted beside each test photo (default 2)")
    choice.add_argument("--seed", type=int, default=0, help="draw of users, splits and strangers (default 0)")
    choice.add_argument("--train-photos", type=int, metavar="N", help="make each reference from the first N train "
                        "photos only, as a key learned from few photos (default: all, as the evaluation)")
    _add_json_arguments(choice)
    choice.set_defaults(func=run_choice_cmd)


def choice_summary(r: dict) -> list[str]:
    """Lines printed by ``p3mask bench choice``."""
    refs = f"first {r['train_photos']} train photo(s)" if r.get("train_photos") else "all train photos"
    lines = [f"{r['users']} LFW users (references from {refs}), {r['match_model']} match threshold "
             f"{r['match_threshold']:.4f}, doubt threshold {r['doubt_threshold']:.4f}; {len(r['hard'])} one-face "
             f"test photo(s) below the match threshold"]
    for where, label in (("plain", "test photos as they are"), ("composite", f"each beside {r['others']} strangers")):
        part = r[where]
        for rule in ("failsafe", "strict"):
            left, masked = part.get(f"{rule}.user_left", 0), part.get(f"{rule}.strangers_masked", 0)
            lines.append(f"{label:<28} {rule:<9} user left bare {left}/{part.get('photos', 0)} "
                         f"({part[rule + '.user_left_share']:.2%}), strangers masked {masked}/"
                         f"{part.get('stranger_faces', 0)} ({part[rule + '.strangers_masked_share']:.2%})")
    return lines


def run_choice_cmd(args: argparse.Namespace) -> int:
    from p3mask.bench.choice import run_choice_bench

    return check_json("choice", args) or run_timing(
        "choice", lambda: run_choice_bench(args.root, args.users, args.others, args.seed,
                                           train_photos=args.train_photos),
        choice_summary, args.json, overwrite=args.overwrite)


def _add_video(kinds: argparse._SubParsersAction) -> None:
    video = kinds.add_parser("video", help="protect a clip made from LFW photos: fps and its split, protection "
                             "per recogniser, flicker (target: 10 s 640x360 30 fps at >= 10 fps)")
    video.add_argument("--root", type=Path, help="LFW folder (default: $P3MASK_DATA/lfw or ../shared/data/lfw)")
    video.add_argument("--user", help="LFW identity (default: the key's user, else the first with 20+ photos)")
    video.add_argument("--key", type=Path, metavar="KEY.p3m", help="key to apply (default: learn one on the "
                       "user's first 10 photos, mid preset)")
    video.add_argument("--seconds", type=float, default=10.0, help="clip length (default 10)")
    video.add_argument("--size", type=int, nargs=2, default=[360, 640], metavar=("H", "W"), help="default 360 640")
    video.add_argument("--fps", type=int, default=30, help="frame rate (default 30)")
    video.add_argument("--scales", type=int, nargs="*", default=[180, 360, 720], metavar="H",
                       help="heights of 16:9 scaling clips (default 180 360 720; none: skip)")
    video.add_argument("--scale-seconds", type=float, default=3.0, help="length of each scaling clip (default 3)")
    video.add_argument("--every", type=int, default=5, metavar="N", help="score protection on every N-th "
                       "protected frame (default 5)")
    video.add_argument("--models", nargs="+", choices=list(MODELS), metavar="NAME", help="default: all")
    video.add_argument("--threads", type=int, metavar="T", help="torch and OpenCV threads (default: theirs)")
    video.add_argument("--strip", type=Path, metavar="PNG", help="write 8 consecutive frames, original above "
                       "protected, to PNG")
    _add_json_arguments(video, "replace the --json FILE and --strip PNG if they exist (default: refuse)")
    video.set_defaults(func=run_video_cmd)


def save_figures(path: Path | None, payload: dict, overwrite: bool = False) -> None:
    """Write ``payload`` to ``path`` with :func:`write_json` and say so; nothing when ``path`` is None."""
    if path:
        write_json(payload, path, overwrite=overwrite)
        print(f"wrote {path}")


def run_timing(
    bench: str,
    measure: Callable[[], dict],
    summary: Callable[[dict], list[str]],
    json_path: Path | None,
    errors: tuple[type[Exception], ...] = (ValueError, FileNotFoundError),
    overwrite: bool = False,
) -> int:
    """Run a timing benchmark, print its summary lines and save its figures.

    Args:
        bench: the benchmark's name (``"learn"``, ``"protect"``), for the error line.
        measure: runs the benchmark and returns its figures; one of ``errors`` it raises is reported as
            ``p3mask bench <bench>: <error>`` with exit status 2.
        summary: the lines printed for the figures.
        json_path: where to write the figures too, or None.
        errors: the expected failures (bad arguments, missing photos or key).
        overwrite: replace ``json_path`` if it exists.

    Returns:
        The exit status: 0, or 2 when ``measure`` failed.
    """
    try:
        result = measure()
    except errors as exc:
        return fail(f"bench {bench}", exc)
    print("\n".join(summary(result)))
    save_figures(json_path, result, overwrite)
    return 0


def _checked_device(bench: str, args: argparse.Namespace):
    """Before a benchmark runs: ``(device, 0)``, or ``(None, status)`` after the one-line error of a bad
    ``--json`` target or an unavailable device."""
    from p3mask.protect.learning import resolve_device

    if check_json(bench, args):
        return None, 2
    try:
        return resolve_device(args.device), 0
    except ValueError as exc:
        return None, fail(f"bench {bench}", exc)


def run_verify_cmd(args: argparse.Namespace) -> int:
    from p3mask.bench.verify import run_verify

    device, status = _checked_device("verify", args)
    if status:
        return status
    results = run_verify(args.root, args.pairs, args.models, device=device)
    print(f"{'model':<14}{'accuracy':>18}{'thr@FAR1e-3':>13}{'faces/s':>10}{'pairs':>7}")
    for name, r in results.items():
        acc = f"{r['accuracy']:.4f} +- {r['accuracy_std']:.4f}"
        print(f"{name:<14}{acc:>18}{r['threshold_far1e-3']:>13.4f}{r['faces_per_s']:>10.1f}{r['pairs_used']:>7}")
    first = next(iter(results.values()))
    print(f"skipped {first['pairs_skipped']} pairs naming absent images; "
          f"{first['fallback_alignments']} photos without a detected face were aligned with median landmarks")
    save_figures(args.json, results, args.overwrite)
    return 0


def run_calibrate_cmd(args: argparse.Namespace) -> int:
    from p3mask.bench.calibrate import run_calibrate
    from p3mask.models.thresholds import write_thresholds

    device, status = _checked_device("calibrate", args)
    if status:
        return status
    results = run_calibrate(args.root, args.identities, args.models, device=device)
    for name, r in results.items():
        print(f"{name:<14} threshold at FAR=1e-3: {r['threshold_far1e-3']:.4f}, at FAR=1e-2: "
              f"{r['threshold_far1e-2']:.4f}  ({r['impostor_pairs']} impostor pairs)")
    if args.json:
        write_json(results, args.json, overwrite=args.overwrite)
    command = "p3mask bench calibrate" + (f" --identities {args.identities}" if args.identities != 400 else "")
    if args.models:
        command += " --models " + " ".join(args.models)
    print(f"wrote thresholds to {write_thresholds(results, command)}")
    return 0


def learn_summary(r: dict) -> list[str]:
    """Lines printed by ``p3mask bench learn``."""
    sec, target = r["seconds"], r["target"]
    epochs = ", ".join(f"{s:.1f}" for s in r["epoch_seconds"])
    verdict = "met" if target["met"] else "NOT met"
    if not target["comparable"]:
        verdict += " (this run is not the target's setting: 20 photos, mid, preset epochs, CPU, 2 cores)"
    gflops = f"{r['gflops_per_s']:.2f}" if r["gflops_per_s"] is not None else "n/a"
    peak, share = r["peak_gflops_per_s"], r["share_of_peak"]
    shares = (f" = {100 * share['matmul']:.0f}% of this machine's matmul peak ({peak['matmul']:.0f} GFLOP/s), "
              f"{100 * share['conv']:.0f}% of its conv peak ({peak['conv']:.0f})") if share else ""
    return [
        f"learned a key for {r['user']} from {r['photos_used']} of {r['photos']} LFW photos "
        f"({r['preset']}, {r['epochs']} epochs, team {','.join(r['team'])}) on {r['device']}, "
        f"{r['threads']} torch thread(s); load average {r['machine']['load_average']}",
        f"wall {sec['total']:.1f} s = models {sec['load_models']:.1f} + photos {sec['load_photos']:.1f} "
        f"+ detection {sec['detection']:.1f} + optimisation {sec['optimisation']:.1f} + other {sec['other']:.1f}",
        "phases (s): " + _phase_line(r),
        f"per epoch {epochs} s (mean {r['epoch_seconds_mean']:.2f} s); {r['flops']['steps']} steps of "
        f"{r['flops']['per_step_mean'] / 1e9:.2f} GFLOP: {gflops} GFLOP/s{shares}",
        f"SSIMULACRA2 (face in context) min {r['quality_min']:.1f}, mean {r['quality_mean']:.1f} "
        f"(floor {r['quality_floor']:.0f})",
        f"target <= {target['seconds']:.0f} s: {verdict}",
    ] + ([f"profile: {', '.join(r['profile'])}"] if r["profile"] else [])


# bench learn's split, in the order the work happens; "detection" is inside "training_set"
_LEARN_PHASES = ("training_set", "detection", "reference_embeddings", "perceptual_references", "team_selection",
                 "paste", "team_forward", "perceptual_forward", "backward", "update", "floor_search", "final_cosines")


def _phase_line(r: dict) -> str:
    phases = r["phases"]
    return ", ".join(f"{name.replace('_', ' ')} {phases[name]:.1f}" for name in _LEARN_PHASES if name in phases)


def run_learn_cmd(args: argparse.Namespace) -> int:
    from p3mask.bench.learn import run_learn

    def measure() -> dict:
        return run_learn(args.root, args.user, args.photos, args.preset, args.epochs, args.device, args.seed,
                         args.threads, progress=True, profile=args.profile, overwrite=args.overwrite)

    return check_json("learn", args) or run_timing("learn", measure, learn_summary, args.json,
                                                    (ValueError, FileNotFoundError, WriteError), args.overwrite)


def protect_summary(r: dict) -> list[str]:
    """Lines printed by ``p3mask bench protect``."""
    det, app = r["detect_ms"], r["apply_ms"]
    source = r["key"] or (f"a quick key ({r['key_learned']['photos']} photos, {r['key_learned']['epochs']} epochs, "
                          f"{r['key_learned']['seconds']:.1f} s)")
    sizes = ", ".join(f"{h}x{w}" for h, w in r["image_sizes"])
    return [
        f"{r['photos']} LFW photos of {r['user']} ({sizes}), {source}, {r['threads']} torch thread(s), "
        f"x{r['repeat']}; load average {r['machine']['load_average']}",
        f"{r['faces_detected']} faces detected; the user's face protected in {r['photos_protected']} photos "
        f"({r['faces_weakened']} face(s) took a weaker mask to hold the perceptual floor)",
        f"detection     {det['mean']:7.1f} ms/photo mean, {det['median']:7.1f} median",
        f"apply the key {app['mean']:7.1f} ms/photo mean, {app['median']:7.1f} median "
        f"(target <= {r['target']['apply_ms']:.0f} ms: {'met' if r['target']['met'] else 'NOT met'})",
        f"per protected face {r['ms_per_face']:.1f} ms = " + ", ".join(f"{k.replace('_', ' ')} {v:.1f}"
                                                                       for k, v in r["phases"].items())
        + f" ({r['quality_evaluations']:.2f} quality evaluations a face)",
        f"encoding (not in the above) {r['encode_ms']['mean']:7.1f} ms/photo mean",
    ]


def run_protect_cmd(args: argparse.Namespace) -> int:
    from p3mask.bench.protect import run_protect
    from p3mask.protect.key import KeyFileError

    def measure() -> dict:
        return run_protect(args.root, args.user, args.photos, args.key, args.threads, args.repeat, args.skip,
                           progress=True)

    return check_json("protect", args) or run_timing(
        "protect", measure, protect_summary, args.json, (ValueError, FileNotFoundError, KeyFileError), args.overwrite)


def video_summary(r: dict) -> list[str]:
    """Lines printed by ``p3mask bench video``."""
    sp, ms, f = r["speed"], r["speed"]["ms_per_frame"], r["flicker"]
    lines = [
        f"{r['clip']['seconds']:g} s {r['clip']['size'][1]}x{r['clip']['size'][0]} {r['clip']['fps']} fps clip of "
        f"{r['user']} ({r['summary']['protected']} of {r['summary']['frames']} frames protected), {r['threads']} torch "
        f"thread(s); load average {r['machine']['load_average']} -> {r['machine']['load_average_after']}",
        f"{sp['fps']:.1f} fps end to end ({sp['fps_without_verify']:.1f} without the verification pass; target >= "
        f"{r['target']['fps']:.0f}: {'met' if r['target']['met'] else 'NOT met'})",
        "ms/frame: " + ", ".join(f"{k} {v:.1f}" for k, v in ms.items())
        + f"; CPU {sp['cpu_seconds_per_frame'] * 1000:.1f} ms/frame",
        f"flicker on the face: original {f['original']:.5f}, protected {f['protected']:.5f}, added {f['added']:+.5f} "
        f"({f['relative']:+.1%})",
        f"recognised against the clean gallery ({r['protection']['frames']} protected frames, every {r['every']}th):",
    ]
    for name, v in r["protection"]["recognised"].items():
        lines.append(f"  {name:<14} original {v['original']:6.1%}  protected {v['protected']:6.1%}")
    for s in r["scaling"]:
        lines.append(f"  {s['size'][1]}x{s['size'][0]}: {s['fps']:.1f} fps ({s['fps_without_verify']:.1f} without "
                     "verify)")
    return lines


def run_video_cmd(args: argparse.Namespace) -> int:
    from p3mask.bench.video import run_video
    from p3mask.protect.key import KeyFileError

    def measure() -> dict:
        return run_video(args.root, args.user, args.key, args.seconds, tuple(args.size), args.fps, tuple(args.scales),
                         args.scale_seconds, args.every, args.models, args.threads, args.strip, progress=True,
                         overwrite=args.overwrite)

    return check_json("video", args) or check_strip(args) or run_timing("video", measure, video_summary, args.json,
                                                    (ValueError, FileNotFoundError, KeyFileError), args.overwrite)


def _add_scale(kinds: argparse._SubParsersAction) -> None:
    scale = kinds.add_parser("scale", help="throughput of learn-many and protect-many: keys per minute, photos per "
                             "second per worker and overall, cost split, 2 workers vs 1, Ray overhead")
    scale.add_argument("--root", type=Path, help="LFW folder (default: $P3MASK_DATA/lfw or ../shared/data/lfw)")
    scale.add_argument("--users", type=int, default=4, metavar="N", help="LFW users (default 4)")
    scale.add_argument("--photos", type=int, default=10, metavar="M", help="photos protected per user (default 10)")
    scale.add_argument("--train-photos", type=int, default=5, metavar="T",
                       help="photos learned from per user (default 5)")
    scale.add_argument("--upscale", type=int, default=1, metavar="K", help="protect K-times enlarged copies of the "
                       "photos (e.g. 8: 2000x2000; default 1: LFW's 250x250)")
    scale.add_argument("--backend", choices=["local", "ray"], default="local",
                       help="ray: also run on a local Ray and report its overhead against local (default local)")
    scale.add_argument("--workers", type=int, default=2, metavar="W", help="workers of the batch runs (default 2)")
    scale.add_argument("--threads", type=int, default=1, metavar="T", help="threads per worker (default 1)")
    scale.add_argument("--preset", choices=list(PRESETS), default="mid", help="default mid")
    scale.add_argument("--epochs", type=int, metavar="N", help="passes over the photos (default: the preset's)")
    scale.add_argument("--team", default="auto", metavar="auto|NAME,NAME,...", help="as for `p3mask learn`")
    scale.add_argument("--seed", type=int, default=0, help="learning seed (default 0)")
    _add_json_arguments(scale)
    scale.set_defaults(func=run_scale_cmd)


def _per_s(value) -> str:
    return f"{value:.2f}" if value is not None else "n/a"


def scale_summary(r: dict) -> list[str]:
    """Lines printed by ``p3mask bench scale``."""
    size = f" ({r['upscale']}x enlarged)" if r.get("upscale", 1) > 1 else ""
    lines = [f"{len(r['users'])} LFW users, {r['train_photos']} photos learned from and {r['photos']} protected"
             f"{size} each; {r['preset']}, {r['epochs']} epochs; {r['workers']} workers x {r['threads']} thread(s); "
             "load average "
             f"{r['machine']['load_average']} -> {r['machine']['load_average_after']}; busy loops got "
             + ", ".join(f"{p['cores_given']:.2f} core(s) for {p['workers']}" for p in r["machine"]["core_probe"])]
    for backend, x in r["learn"].items():
        lines.append(f"learn   {backend:<8} {x['learned']} keys in {x['wall_seconds']:.1f} s: "
                     f"{_per_s(x['keys_per_minute_wall'])} keys/min overall "
                     f"(steady {_per_s(x['keys_per_minute_steady'])}), "
                     f"{_per_s(x['keys_per_minute_per_worker'])} per worker "
                     f"({_per_s(x['seconds_per_key_mean'])} s a key)")
    for run, x in r["protect"].items():
        ms = ", ".join(f"{k} {v:.1f}" for k, v in x["ms_per_photo"].items() if v is not None)
        lines.append(f"protect {run:<8} {x['protected']} photos, {x['workers']} worker(s), {x['wall_seconds']:.1f} s: "
                     f"{_per_s(x['per_second_wall'])} photos/s overall "
                     f"(steady {_per_s(x['per_second_steady'])}, all at work "
                     f"{_per_s(x['per_second_all_busy'])}), "
                     f"{_per_s(x['per_second_per_worker'])} per worker; "
                     f"ms/photo {ms}; CPU {x['cpu_seconds_per_item'] * 1000:.0f} ms/photo, "
                     f"{x['cpu_share_while_busy']:.0%} of busy time on a core")
    sp = r["speedup"]
    lines.append(f"{sp['workers']} workers vs 1: {_per_s(sp['all_busy'])}x while all were at work, "
                 f"{_per_s(sp['steady'])}x steady, {_per_s(sp['wall'])}x wall (target >= "
                 f"{sp['target']}x: {'met' if sp['met'] else 'NOT met'}); with a core per worker (from CPU time per "
                 f"photo, derived) {_per_s(sp['core_per_worker'])}x")
    for kind, o in r.get("ray_overhead", {}).items():
        lines.append(f"Ray overhead, {kind}: wall x{o['wall_ratio']:.2f} ({o['extra_wall_seconds']:+.1f} s), "
                     f"steady x{_per_s(o['steady_ratio'])}")
    return lines


def run_scale_cmd(args: argparse.Namespace) -> int:
    from p3mask.bench.scale import run_scale
    from p3mask.cli.options import parse_team
    from p3mask.protect.config import get_config

    def measure() -> dict:
        config = get_config(args.preset, epochs=args.epochs, team=parse_team(args.team))
        return run_scale(args.root, args.users, args.photos, args.train_photos, args.backend, args.workers,
                         args.threads, config, args.seed, args.upscale)

    return check_json("scale", args) or run_timing("scale", measure, scale_summary, args.json, overwrite=args.overwrite)
