"""``graphsolvers`` command line: convert graphs, print the JSON schema, train/evaluate/benchmark CGS."""

from __future__ import annotations

import argparse
import json
import sys

from graphsolvers.cli_support import add_command, check_output, command_parser, options, run_cli, write_atomic
from graphsolvers.errors import ToolkitError
from graphsolvers.graph import Graph
from graphsolvers.io import dumps_graph, guess_format, loads_graph, read_source


def build_parser() -> argparse.ArgumentParser:
    parser, sub = command_parser(
        "graphsolvers",
        description="The shared graph model of flowpath: conversions and schema; Convergent Graph Solvers.",
        epilog="Examples:\n  graphsolvers convert chart.mmd --to json\n  graphsolvers schema > graph.schema.json\n"
        "  graphsolvers train gvi --model all\n  graphsolvers eval porous --json porous.json\n"
        "  graphsolvers bench --sizes 1024 4096 --json bench.json",
    )

    convert = add_command(sub, _convert)
    convert.add_argument("input", help="graph file, or - for stdin")
    convert.add_argument("--from", dest="src", choices=["json", "mermaid"], help="input format (default: guessed)")
    convert.add_argument("--to", dest="dst", choices=["json", "mermaid"], help="output format (default: the other one)")
    convert.add_argument("-o", "--output", help="write here (atomically) instead of stdout")
    add_command(sub, _schema)
    _add_cgs_commands(sub)
    return parser


def _add_cgs_commands(sub: argparse._SubParsersAction) -> None:
    tasks = ["gvi", "porous"]
    train = add_command(sub, _train)
    train.add_argument("task", choices=tasks)
    train.add_argument("--model", choices=["cgs", "ignn", "gnn", "all"], default="cgs", help="default: cgs")
    train.add_argument("--steps", type=_positive_int, default=2000, help="most optimisation steps (default 2000)")
    train.add_argument("--time-limit", type=float, default=240.0, help="seconds per model (default 240)")
    train.add_argument("--n-train", type=_positive_int, default=2000, help="training graphs (default 2000)")
    train.add_argument("--batch-size", type=_positive_int, default=16, help="graphs per step (default 16)")
    train.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default 2e-3)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--aux-weight",
        type=_non_negative_float,
        default=None,
        help="weight of the task's auxiliary loss (gvi: greedy-policy cross-entropy; default: the task's, gvi 1, "
        "porous 0; 0 trains on the value MSE alone)",
    )
    train.add_argument("--output-dir", default=".", help="folder for TASK_MODEL.pt (default: .)")
    _add_device(train)

    ev = add_command(sub, _eval)
    ev.add_argument("task", choices=tasks)
    ev.add_argument("checkpoint", nargs="?", help="checkpoint file (default: the committed CGS checkpoint)")
    ev.add_argument("--n-graphs", type=_positive_int, default=200, help="held-out graphs per split (default 200)")
    ev.add_argument("--seed", type=int, default=None, help="generator seed of the held-out graphs")
    ev.add_argument("--no-baselines", action="store_true", help="skip the committed IGNN / stacked-GNN baselines")
    ev.add_argument("--json", dest="json_out", help="also write the metrics as JSON here (atomically)")
    _add_device(ev)

    bench = add_command(sub, _bench)
    bench.add_argument("--sizes", type=_positive_int, nargs="+", help="node counts (default 1024 ... 1048576)")
    bench.add_argument("--dense-max", type=int, default=4096, help="largest n for the dense reference (default 4096)")
    bench.add_argument("--heads", type=_positive_int, default=16, help="M (default 16)")
    bench.add_argument("--degree", type=_positive_int, default=6, help="edges per node (default 6)")
    bench.add_argument("--timeout", type=float, default=900.0, help="seconds per row (default 900)")
    bench.add_argument("--json", dest="json_out", help="also write the rows as JSON here (atomically)")
    _add_device(bench)


def _add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="torch CPU threads (default: torch's choice; 1 is fastest on a busy machine)",
    )


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _setup_torch(args: argparse.Namespace) -> None:
    import os

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by bench subprocesses
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ToolkitError(f"device {args.device!r} requested but CUDA is not available; use --device cpu")


def _train(args: argparse.Namespace) -> int:
    """train a Convergent Graph Solver (or a baseline) on a task

    Train on generated graphs (seed S), keep the best state on validation graphs (seed S+1) and write TASK_MODEL.pt
    into --output-dir. Held-out evaluation graphs are never used.
    """
    from pathlib import Path

    from tqdm import tqdm

    from graphsolvers.cgs.training import save_checkpoint, train_model

    check_output(args.output_dir, flag="--output-dir", kind="folder")
    _setup_torch(args)
    kinds = ["cgs", "ignn", "gnn"] if args.model == "all" else [args.model]
    for kind in kinds:
        with tqdm(total=args.steps, desc=f"{args.task}/{kind}", unit="step", disable=args.quiet) as bar:

            def progress(step: int, loss: float, bar: tqdm = bar) -> None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

            ckpt = train_model(
                args.task,
                kind,
                **options(args, "n_train", "time_limit", "batch_size", "lr", "seed", "device", "aux_weight"),
                max_steps=args.steps,
                callback=progress,
            )
        path = save_checkpoint(ckpt, Path(args.output_dir) / f"{args.task}_{kind}.pt")
        info = ckpt.info
        print(
            f"{path}: {info['steps']} steps in {info['seconds']} s, best validation loss {info['val_loss']:.4g} "
            f"(step {info['best_step']}), {info['parameters']} parameters"
        )
    return 0


def _eval(args: argparse.Namespace) -> int:
    """evaluate a checkpoint (and the committed baselines and exact solver) on held-out graphs

    Metrics on held-out generated graphs: gvi -> policy_accuracy, value_mape (percent); porous -> mse (normalised
    pressure), also on 200-500-pore networks (mse_large).
    """
    from graphsolvers.cgs.training import EVAL_SEED, default_checkpoint, evaluate_task, load_checkpoint

    if args.json_out:
        check_output(args.json_out, flag="--json", inputs=[args.checkpoint] if args.checkpoint else [])
    _setup_torch(args)
    path = args.checkpoint or default_checkpoint(args.task)
    models = {
        "cgs" if args.checkpoint is None else "checkpoint": load_checkpoint(path, task=args.task, device=args.device)
    }
    if not args.no_baselines:
        for kind in ("ignn", "gnn"):
            base = default_checkpoint(args.task, kind)
            if base.is_file():
                models[kind] = load_checkpoint(base, task=args.task, device=args.device)
    seed = EVAL_SEED if args.seed is None else args.seed
    report = evaluate_task(args.task, models, n_graphs=args.n_graphs, seed=seed)
    main_name = next(iter(models))
    splits = list(dict.fromkeys(r["split"] for r in report["rows"]))
    first = next(r for r in report["rows"] if r["model"] == main_name and r["split"] == splits[0])
    out = {"task": args.task, "checkpoint": str(path)}
    if args.task == "gvi":
        out.update(policy_accuracy=first["policy_accuracy"], value_mape=first["value_mape"])
    else:
        out["mse"] = first["mse"]
        large = next(r for r in report["rows"] if r["model"] == main_name and r["split"] == splits[1])
        out["mse_large"] = large["mse"]
    out.update(report)
    metrics = [k for k in first if k not in ("split", "model", "seconds")]
    header = f"{'split':<24} {'model':<11} " + " ".join(f"{m:>16}" for m in metrics) + f" {'seconds':>9}"
    print(header)
    for r in report["rows"]:
        print(
            f"{r['split']:<24} {r['model']:<11} "
            + " ".join(f"{r[m]:>16.5g}" for m in metrics)
            + f" {r['seconds']:>9.2f}"
        )
    if args.json_out:
        write_atomic(args.json_out, json.dumps(out, indent=2) + "\n")
    return 0


def _bench(args: argparse.Namespace) -> int:
    """time and memory of the sparse CGS layer vs the dense formulation

    Forward+backward time and peak memory against graph size (mean degree 6, M heads); the dense M x N x N
    formulation only up to --dense-max nodes. Each row runs in a fresh process.
    """
    from graphsolvers.cgs.bench import DEFAULT_SIZES, format_table, run_bench

    if args.json_out:
        check_output(args.json_out, flag="--json")
    _setup_torch(args)
    rows = run_bench(
        args.sizes or DEFAULT_SIZES,
        dense_max=args.dense_max,
        heads=args.heads,
        degree=args.degree,
        timeout=args.timeout,
        device=args.device,
    )
    print(format_table(rows))
    if args.json_out:
        write_atomic(args.json_out, json.dumps(rows, indent=2) + "\n")
    return 0


def _convert(args: argparse.Namespace) -> int:
    """convert a graph between JSON and Mermaid

    Read a graph (JSON or Mermaid flowchart) and write it in the other format. The input format comes from the
    suffix (.json, .mmd, .mermaid) or, for '-', from the content.
    """
    if args.output:
        check_output(args.output, flag="--output", inputs=[] if args.input == "-" else [args.input])
    text = read_source(args.input)
    src = args.src or guess_format(args.input, text)
    graph = loads_graph(text, src)
    dst = args.dst or ("mermaid" if src == "json" else "json")
    text = dumps_graph(graph, dst) + "\n"
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _schema(args: argparse.Namespace) -> int:
    """print the JSON schema of the graph document"""
    print(json.dumps(Graph.model_json_schema(), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``graphsolvers`` console script."""
    return run_cli(build_parser, argv)


if __name__ == "__main__":
    sys.exit(main())
