"""``connectome`` command line: run the pipeline, make synthetic data, benchmark. Parses and prints only."""

from __future__ import annotations

import argparse
import json
import sys

from connectome.errors import ParameterError
from graphsolvers.cli_support import add_command, check_output, command_parser, options, run_cli


def _rank(text: str) -> int | str:
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"rank must be a positive integer or 'auto', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"rank must be a positive integer or 'auto', got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {value:g}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser, sub = command_parser(
        "connectome",
        description="Dynamic functional connectomes: affinities -> non-negative tensor factorization -> communities.",
        epilog="Examples:\n  connectome run ../shared/connectome/flavell2023 --out runs/flavell\n"
        "  connectome synth synth.npz && connectome run synth.npz --rank 3 --out runs/synth\n"
        "  connectome bench planted",
    )

    run = add_command(sub, _run)
    run.add_argument("data", help=".npz / .h5 recordings, or a flavell2023 folder")
    run.add_argument("--window", type=_seconds, default=30.0, help="window length, seconds (default 30)")
    run.add_argument("--stride", type=_seconds, default=10.0, help="window step, seconds (default 10)")
    run.add_argument("--rank", type=_rank, default="auto", help="components, or 'auto' (default)")
    run.add_argument(
        "--method",
        choices=["auto", "sbm", "leiden"],
        default="auto",
        help="community detection (default auto: sbm for strong components, leiden for weak ones)",
    )
    run.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    run.add_argument("--device", default="cpu", help="torch device for the NTF (default cpu)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--restarts", type=int, default=3, help="NTF restarts per rank (default 3)")
    run.add_argument("--max-iter", type=int, default=300)
    run.add_argument("--max-rank", type=int, default=8, help="largest rank tried by --rank auto (default 8)")
    run.add_argument("--trace", default="trace_array", help="trace version for flavell2023 folders")
    run.add_argument("--min-animals", type=int, default=1, help="flavell2023: keep neurons named in >= N animals")

    synth = add_command(sub, _synth)
    synth.add_argument("output")
    synth.add_argument("--neurons", type=int, default=45)
    synth.add_argument("--animals", type=int, default=4)
    synth.add_argument("--epochs", type=int, default=3)
    synth.add_argument("--groups", type=int, default=3)
    synth.add_argument("--noise", type=float, default=0.15)
    synth.add_argument("--seed", type=int, default=0)

    bench = add_command(sub, _bench)
    bench.add_argument("which", choices=["ntf", "sbm", "planted", "all"])
    bench.add_argument("--quick", action="store_true", help="small sizes only")
    bench.add_argument("--real", help="also benchmark NTF on the tensor of these recordings")
    bench.add_argument("--rank", type=int, default=8)
    bench.add_argument("--device", default=None)
    bench.add_argument("--max-iter", type=int, default=100, help="NTF iteration budget for both methods")
    bench.add_argument("--tol", type=float, default=1e-7, help="NTF tolerance for both; negative: run --max-iter")
    bench.add_argument(
        "--sizes", help="NTF sizes as NEURONSxWINDOWSxANIMALS,... (default 50x50x5,100x100x10,300x200x20)"
    )
    bench.add_argument(
        "--seeds", type=_seeds, default=None, help="planted: seeds of the dynamic regimes (default 10,11,12)"
    )
    bench.add_argument(
        "--sweep-seeds", type=_seeds, default=None, help="planted: seeds of the SNR sweep (default --seeds)"
    )
    bench.add_argument("--json", action="store_true", help="print JSON instead of tables")
    return parser


def _run(args: argparse.Namespace) -> int:
    """run the pipeline on recordings and write result.json + figures"""
    from pathlib import Path

    from tqdm import tqdm

    from connectome.io import load_flavell2023, load_recordings
    from connectome.pipeline import run_pipeline, write_outputs

    out = check_output(args.out, flag="--out", kind="folder", inputs=[args.data], empty=True)
    data = Path(args.data)
    if data.is_dir():
        rec = load_flavell2023(data, trace=args.trace, min_animals=args.min_animals)
    else:
        rec = load_recordings(data)
    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if args.quiet:
            return
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="step", file=sys.stderr, leave=True)
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    try:
        run = run_pipeline(
            rec,
            **options(args, "rank", "method", "seed", "device", "max_iter"),
            window_s=args.window,
            stride_s=args.stride,
            n_restarts=args.restarts,
            ranks=range(1, args.max_rank + 1),
            progress=progress,
        )
        written = write_outputs(run, rec, out)
    finally:
        for bar in bars.values():
            bar.close()
    params = run.result.params
    print(
        f"{len(run.result.components)} components (rank {params['rank_mode']}), relative error "
        f"{params['rel_error']:.3f}, {rec.n_animals} animals x {rec.n_neurons} neurons x "
        f"{len(run.result.windows_s)} windows"
    )
    for r, comp in enumerate(run.result.components):
        print(f"  C{r}: {len(set(comp.communities.values()))} communities, {len(comp.weights.edges)} edges")
    homologs = params.get("homolog_share")
    if isinstance(homologs, dict) and homologs["best_component"] is not None:
        best = int(homologs["best_component"])
        print(
            f"homolog share {homologs['share'][best]:.2f} in C{best} (chance {homologs['chance'][best]:.2f}, "
            f"{homologs['pairs']} left/right pairs)"
        )
    print(f"wrote {written}/result.json and figures")
    return 0


def _synth(args: argparse.Namespace) -> int:
    """write synthetic recordings with planted dynamic communities (.npz)"""
    from connectome.io import save_recordings
    from connectome.synthetic import planted_dynamic_recordings

    check_output(args.output, flag="OUTPUT")
    rec, truth = planted_dynamic_recordings(
        n_neurons=args.neurons,
        n_animals=args.animals,
        n_epochs=args.epochs,
        groups_per_epoch=args.groups,
        noise=args.noise,
        seed=args.seed,
    )
    path = save_recordings(args.output, rec)
    print(
        f"wrote {path}: {rec.n_animals} animals x {rec.n_neurons} neurons x {rec.n_frames} frames; "
        f"epochs {truth.epochs}"
    )
    return 0


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {text!r}") from None


def _size(text: str) -> tuple[int, int, int]:
    try:
        n, w, a = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ParameterError(
            f"NTF size must look like 300x200x20 (neurons x windows x animals), got {text!r}"
        ) from None
    return n, w, a


def _bench(args: argparse.Namespace) -> int:
    """benchmarks: ntf (vs tensorly), sbm (time vs size), planted (NMI vs mu; dynamic regimes and SNR sweep)"""
    from connectome import bench

    out: dict[str, list[dict]] = {}
    if args.which in ("ntf", "all"):
        real = mask = None
        if args.real:
            from pathlib import Path

            from connectome.affinity import affinity_tensor
            from connectome.io import load_recordings

            tensor = affinity_tensor(load_recordings(Path(args.real)), window_s=30.0, stride_s=10.0)
            real, mask = tensor.values, tensor.mask
        sizes = ((30, 40, 4), (60, 60, 6)) if args.quick else ((50, 50, 5), (100, 100, 10), (300, 200, 20))
        if args.sizes:
            sizes = tuple(_size(s) for s in args.sizes.split(","))
        out["ntf"] = bench.bench_ntf(
            sizes, rank=args.rank, max_iter=args.max_iter, device=args.device, real=real, real_mask=mask, tol=args.tol
        )
    if args.which in ("sbm", "all"):
        out["sbm"] = bench.bench_sbm((50, 100) if args.quick else (50, 100, 200, 500, 1000, 2000))
    if args.which in ("planted", "all"):
        out["planted"] = bench.bench_planted((0.2,), n_nodes=60, seeds=(0,)) if args.quick else bench.bench_planted()
        seeds = args.seeds or ((0,) if args.quick else bench.REPORT_SEEDS)
        small = {"n_neurons": 20, "n_animals": 2, "n_epochs": 2, "epoch_s": 60.0} if args.quick else {}
        out["dynamic"], out["snr_sweep"] = bench.bench_dynamic(
            seeds=seeds,
            sweep=(0.4,) if args.quick else bench.SNR_SWEEP,
            sweep_seeds=args.sweep_seeds,
            generator_options=small,
            **({"ranks": (1, 2, 3), "n_restarts": 2, "max_iter": 50} if args.quick else {}),
        )
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        for name, rows in out.items():
            print(f"\n## {name}\n")
            print(bench.format_table(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``connectome`` console script."""
    return run_cli(build_parser, argv)


if __name__ == "__main__":
    sys.exit(main())
