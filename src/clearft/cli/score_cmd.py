"""`clearft score`: confidence that each target is good, with the evidence behind it."""

from __future__ import annotations

import argparse
import sys

from clearft.cli.common import add_backend_args, add_data_args
from clearft.engines.options import add_engine_args

METHOD_HELP = (
    "auto (default: embedding-knn when targets are labels, else bsdetector), bsdetector, "
    "consistency, self-reflection, perplexity, ifd, judge-rating, embedding-knn"
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score", help="score every example's target: confidence in [0, 1], low = likely bad",
        description="Write every input record plus id, confidence, consistency, self_reflection, "
                    "clearft_method, clearft_evidence and clearft_error. A killed run resumes "
                    "from <output>.partial.jsonl; settings go to <output>.meta.json.",
    )
    p.add_argument("input", help="the fine-tuning data (JSONL, JSON, CSV, Parquet or a datasets folder)")
    p.add_argument("-o", "--output", required=True, help="where to write the scored records")
    p.add_argument("--output-file-type", default=None,
                   help="file type of the output (default: from its suffix)")
    g = p.add_argument_group("scoring")
    g.add_argument("--method", default="auto", help=METHOD_HELP)
    g.add_argument("--preset", default="medium", help="base, low, medium (default), high, best: cheap to thorough")
    g.add_argument("--alpha", type=float, default=None, help="weight of similarity vs exact match in consistency (0.8)")
    g.add_argument("--beta", type=float, default=None, help="weight of consistency vs self-reflection (0.7)")
    g.add_argument("-k", "--samples", dest="k", type=int, default=None, help="sampled answers per row (preset)")
    g.add_argument("--rounds", type=int, default=None, help="self-reflection rounds (preset)")
    g.add_argument("--similarity", default=None, help="embedding (default), nli, exact, token-f1")
    g.add_argument("--nli-model", default=None, help="folder of a Hugging Face NLI cross-encoder (for --similarity nli)")
    g.add_argument("--max-tokens", dest="sample_max_tokens", type=int, default=None,
                   help="tokens per sampled answer (preset)")
    g.add_argument("--no-logprobs", action="store_true",
                   help="sample reflection letters even where the backend gives log-probabilities")
    g.add_argument("--classifier", default=None, help="embedding-knn: logreg (default) or knn")
    g.add_argument("--seed", type=int, default=None, help="sampling seed (0)")
    g.add_argument("--batch-size", type=int, default=None, help="rows per batched backend call (16)")
    g.add_argument("--dry-run", action="store_true", help="print the model calls and tokens the run would take, then stop")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_data_args(p)
    add_backend_args(p)
    add_engine_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from clearft.cli.common import backend_options, data_options
    from clearft.scoring import make_config, score_file

    config = make_config(
        args.preset, method=args.method, alpha=args.alpha, beta=args.beta, k=args.k,
        rounds=args.rounds, similarity=args.similarity, nli_model=args.nli_model,
        sample_max_tokens=args.sample_max_tokens, classifier=args.classifier, seed=args.seed,
        batch_size=args.batch_size, use_logprobs=False if args.no_logprobs else None,
    )

    def open_model():  # type: ignore[no-untyped-def]
        from clearft.backends.cache import open_backend

        return open_backend(args.backend, cache=args.cache, **backend_options(args))

    if args.engine != "local":
        from clearft.engines import make_engine
        from clearft.engines.options import backend_spec, engine_config
        from clearft.engines.score import score_file_on_engine

        spec = backend_spec(args.backend, args.cache, backend_options(args))
        with make_engine(engine_config(args, progress=not args.no_progress)) as engine:
            summary = score_file_on_engine(args.input, args.output, spec, config, engine,
                                           **data_options(args), output_file_type=args.output_file_type,
                                           dry_run=args.dry_run, progress=not args.no_progress)
    else:
        summary = score_file(args.input, args.output, open_model, config, **data_options(args),
                             output_file_type=args.output_file_type, dry_run=args.dry_run,
                             progress=not args.no_progress)
    for line in summary.lines():
        print(line, file=sys.stderr if not args.dry_run else sys.stdout)
    return 0
