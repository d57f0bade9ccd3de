"""The ``winnow`` command line."""

import argparse
import os
import sys


def main(argv=None):
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    parser = argparse.ArgumentParser(prog="winnow", description="Curate image datasets in FiftyOne")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="build the 'winnow-demo' dataset and run every step")
    demo.add_argument("--app", action="store_true", help="open the FiftyOne App on it")
    demo.add_argument("--port", type=int, default=5151)

    emb = sub.add_parser("embed", help="compute embeddings on an existing dataset")
    emb.add_argument("dataset")
    emb.add_argument("--model", default="efficientnet-lite0")
    emb.add_argument("--layer", default=None)
    emb.add_argument("--field", default="embedding")
    emb.add_argument("--batch-size", type=int, default=32)
    emb.add_argument("--patches-field", default=None,
                     help="a Detections/Polylines field: one vector per object (its crop)")

    cur = sub.add_parser("curate", help="run every curation step on an existing dataset")
    cur.add_argument("dataset")
    cur.add_argument("--label-field", default=None,
                     help="Classification(s) field: enables label issues and per-class representatives")
    cur.add_argument("--embeddings-field", default="embedding")
    cur.add_argument("--model", default="efficientnet-lite0")
    cur.add_argument("--outliers", type=float, default=0.05, help="share to tag as outliers")
    cur.add_argument("--redundant", type=float, default=0.05, help="share to tag as redundant")
    cur.add_argument("--k", default="auto", help="representatives: an int, or 'auto'")
    cur.add_argument("--patches-field", default=None,
                     help="a Detections/Polylines field: curate its objects (image issues "
                          "stay on the images)")

    iss = sub.add_parser("issues", help="find image issues (dark, light, blurry, ...), exact "
                                        "duplicates and, with splits, leaks between them")
    iss.add_argument("dataset")
    iss.add_argument("--issues", nargs="+", default=None, metavar="KIND",
                     help="the kinds to tag (default: all)")
    iss.add_argument("--threshold", nargs=2, action="append", default=[],
                     metavar=("NAME", "VALUE"), help="override a threshold (repeatable)")
    iss.add_argument("--split-field", default=None,
                     help="a field holding each sample's split: also find leaks between splits")
    iss.add_argument("--train-split", default="train")
    iss.add_argument("--no-duplicates", action="store_true", help="skip duplicates")
    iss.add_argument("--exact-only", action="store_true",
                     help="exact duplicates only (no near copies by fingerprint)")

    runs = sub.add_parser("runs", help="list the Winnow runs of a dataset")
    runs.add_argument("dataset")

    args = parser.parse_args(argv)
    return COMMANDS[args.command](args)


def _demo(args):
    from winnow.demo import run_demo

    dataset, summary = run_demo()
    print("\nWinnow demo: dataset %r, %d samples" % (dataset.name, len(dataset)))
    for step, text in summary:
        print("\n[%s]\n%s" % (step, text))
    if args.app:
        import fiftyone as fo

        session = fo.launch_app(dataset, port=args.port, auto=False)
        print("App: %s (Ctrl-C to stop)" % session.url)
        session.wait(-1)
    return 0


def _embed(args):
    import fiftyone as fo
    import winnow

    dataset = fo.load_dataset(args.dataset)
    print(winnow.compute_embeddings(dataset, model=args.model, layer=args.layer,
                                    embeddings_field=args.field, batch_size=args.batch_size,
                                    patches_field=args.patches_field))
    return 0


def _curate(args):
    import fiftyone as fo
    import winnow

    k = args.k if args.k == "auto" else int(args.k)
    print(winnow.curate(fo.load_dataset(args.dataset), label_field=args.label_field,
                        embeddings_field=args.embeddings_field, model=args.model,
                        outliers=args.outliers, redundant=args.redundant, k=k,
                        patches_field=args.patches_field))
    return 0


def _issues(args):
    import fiftyone as fo
    import winnow

    dataset = fo.load_dataset(args.dataset)
    thresholds = {name: float(value) for name, value in args.threshold} or None
    print(winnow.find_image_issues(dataset, issues=args.issues, thresholds=thresholds))
    if not args.no_duplicates:
        print(winnow.find_duplicates(dataset, near_copies=not args.exact_only))
    if args.split_field:
        # Near copies by fingerprint always; by embeddings too where the dataset has them.
        field = "embedding" if dataset.has_field("embedding") else None
        print(winnow.find_leaks(dataset, split_field=args.split_field,
                                train_split=args.train_split, embeddings_field=field))
    return 0


def _runs(args):
    import fiftyone as fo
    import winnow

    for run in winnow.list_runs(fo.load_dataset(args.dataset)):
        print("%-40s %-14s %s  fields=%s counts=%s" % (run["key"], run["method"],
              run["timestamp"], run["fields"], run["counts"]))
    return 0


COMMANDS = {"demo": _demo, "embed": _embed, "curate": _curate, "issues": _issues,
            "runs": _runs}

if __name__ == "__main__":
    sys.exit(main())
