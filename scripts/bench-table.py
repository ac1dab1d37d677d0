#!/usr/bin/env python3
"""The table at the end of `make bench`: every criterion figure of the run, the ceiling it is held against and
the ratio, from target/criterion/**/new/{benchmark,estimates}.json (the median of each bench, in µs).

Ceilings (benches/exchange.rs, measured in the same run):
  verify/ALG                       ceiling/ALG_verify
  mint/ES256                       ceiling/ES256_sign
  exchange/ALG-in_ES256-out[...]   ceiling/ALG_verify + ceiling/ES256_sign   (issue 11's budget: ≤ 1.15)
Figures with no ceiling (policy, store) are listed with their value only. Writes the rows as JSON lines to
target/bench-table.json. Exits 1 when an exchange is over its budget and BENCH_ENFORCE=1 (off by default:
figures on a shared machine are noisy; the note reports them).
"""
import json
import os
import pathlib
import sys

EXCHANGE_BUDGET = 1.15


def load(root):
    figures = {}
    for bench in root.glob("**/new/benchmark.json"):
        estimates = bench.with_name("estimates.json")
        if not estimates.exists():
            continue
        full_id = json.loads(bench.read_text())["full_id"]
        figures[full_id] = json.loads(estimates.read_text())["median"]["point_estimate"] / 1000.0
    return figures


def ceiling_of(name, figures):
    """The ceiling of a figure (µs) and its formula, or None."""
    parts = {
        "verify/RS256": ["ceiling/RS256_verify"],
        "verify/ES256": ["ceiling/ES256_verify"],
        "mint/ES256": ["ceiling/ES256_sign"],
    }.get(name)
    if parts is None and name.startswith("exchange/"):
        alg = name.split("/", 1)[1].split("-", 1)[0]
        parts = [f"ceiling/{alg}_verify", "ceiling/ES256_sign"]
    if not parts or any(part not in figures for part in parts):
        return None
    return sum(figures[part] for part in parts), " + ".join(part.split("/", 1)[1] for part in parts)


def main():
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or "target")
    root = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else target / "criterion"
    figures = load(root)
    if not figures:
        print(f"no criterion results under {root}", file=sys.stderr)
        return 1
    rows, over = [], []
    print(f"\n{'bench':<44} {'µs':>9} {'ceiling µs':>11} {'ratio':>6}  ceiling")
    for name in sorted(figures, key=lambda n: (not n.startswith("ceiling/"), n)):
        value = figures[name]
        ceiling = ceiling_of(name, figures)
        row = {"bench": name, "us": round(value, 3)}
        if ceiling is None:
            print(f"{name:<44} {value:>9.2f}")
        else:
            limit, formula = ceiling
            ratio = value / limit
            row.update(ceiling_us=round(limit, 3), ratio=round(ratio, 3), ceiling=formula)
            mark = ""
            if name.startswith("exchange/"):
                row["budget"] = EXCHANGE_BUDGET
                mark = "  ok" if ratio <= EXCHANGE_BUDGET else f"  OVER the {EXCHANGE_BUDGET} budget"
                if ratio > EXCHANGE_BUDGET:
                    over.append(name)
            print(f"{name:<44} {value:>9.2f} {limit:>11.2f} {ratio:>6.2f}  {formula}{mark}")
        rows.append(row)
    out = target / "bench-table.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    print(f"JSON lines: {out}")
    if over and os.environ.get("BENCH_ENFORCE") == "1":
        print(f"over budget: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
