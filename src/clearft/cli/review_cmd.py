"""`clearft review`: the rows where a person's answer is worth most, on one offline HTML page
(or exported for Label Studio or Argilla)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from clearft.cli.common import PROMPT_COL_HELP, RESPONSE_COL_HELP, NonNegativeInt, PositiveInt

if TYPE_CHECKING:
    from clearft.data.options import DataOptions

DEFAULT_PORT = 8765  # clearft.review.serve.DEFAULT_PORT; not imported, so --help stays light


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "review",
        help="write a review queue (offline HTML page) of the rows the machine could not confidently fix",
        description=(
            "Pick the rows where a person's answer is worth most (low confidence and no confident "
            "correction, highest expected gain first: doubt, disagreement between the views, how close "
            "the call between candidate and target was) and write them to one self-contained HTML page: "
            "each row's prompt, target and candidates with their evidence, with keep / replace / edit / "
            "drop controls and a button that downloads the decisions as JSONL for `clearft apply`. "
            "--export label-studio or argilla writes the same queue as those tools' import files instead. "
            "--serve serves the page on 127.0.0.1 instead and appends each decision to -o as it is made."
        ),
    )
    p.add_argument("source", metavar="RUN_OR_SCORED",
                   help="a `clearft run` directory, or a scored or corrected file (JSONL, JSON, CSV, Parquet)")
    p.add_argument("-o", "--output", required=True,
                   help="file to write: the HTML page, the export (--export), or with --serve the decisions "
                        "JSONL, appended to as decisions are made (an existing one is continued)")
    # --top and --export, not --limit and --to: eval's old --limit and export's --to mean other
    # things, and a flag has one meaning across commands (tests/test_cli_flags.py).
    p.add_argument("--top", action=PositiveInt, default=50, metavar="N",
                   help="rows in the queue, the most useful first (default 50)")
    p.add_argument("--export", choices=["label-studio", "argilla"], default=None,
                   help="instead of the HTML page, write the queue for a labelling tool: label-studio "
                        "(tasks JSON, the candidates as predictions) or argilla (records JSONL with fields "
                        "and suggestions)")
    p.add_argument("--serve", action="store_true",
                   help="serve the page on 127.0.0.1 (the printed URL carries an access token) and append each "
                        "decision to -o the moment it is made (fsync'd: stopping the server loses nothing); "
                        "a reload shows the decisions saved so far. Ctrl-C stops it")
    p.add_argument("--port", action=NonNegativeInt, default=DEFAULT_PORT, metavar="PORT",
                   help=f"with --serve: the port on 127.0.0.1 (default {DEFAULT_PORT}; 0: any free port)")
    p.add_argument("--title", default=None, help="page title (default: names the inputs)")
    p.add_argument("--prompt-col", default=None, help=PROMPT_COL_HELP)
    p.add_argument("--response-col", default=None, help=RESPONSE_COL_HELP)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from clearft.cli.common import data_options
    from clearft.errors import ClearftError

    options = data_options(args)
    if args.serve:
        if args.export:
            raise ClearftError("--serve serves the HTML page; it cannot be combined with --export")
        return serve(args, options)
    if args.port != DEFAULT_PORT:
        raise ClearftError("--port needs --serve")
    from clearft.review import build_queue

    result = build_queue(args.source, args.output, limit=args.top, to=args.export or "html", title=args.title,
                         data_options=options)
    print(f"{len(result.rows)} rows queued for review, of {result.pool} not confidently fixed")
    print(f"wrote {result.path} ({result.bytes_written / 1e3:.1f} kB)")
    return 0


def serve(args: argparse.Namespace, options: DataOptions) -> int:
    from clearft.review.serve import serve_queue

    server = serve_queue(args.source, args.output, limit=args.top, port=args.port, title=args.title,
                         data_options=options)
    saved = len(server.log.saved)
    print(f"{len(server.rows)} rows queued for review, of {server.pool} not confidently fixed")
    print(f"decisions are appended to {server.log.path} as they are made"
          + (f" ({saved} already there)" if saved else ""))
    print(f"open {server.url}", flush=True)
    print("Ctrl-C stops the server", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print(f"stopped; {len(server.log.saved)} rows decided in {server.log.path}")
    return 0
