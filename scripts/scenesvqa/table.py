"""Prints a `vlmrun eval --save` report of scenes-vqa as Markdown tables (one per
question kind), rows sorted by keep budget, then by accuracy."""
import json
import sys

SINGLE = ["colour_at", "shape_at", "size_at", "where", "count", "exists", "left_of", "colour_next"]
SEQ = ["moved", "appeared", "disappeared", "count_last"]
QUERY_AWARE = {"oracle", "cdpruner", "dart-pre", "sparsevlm", "fastv", "pdrop", "aim", "dart", "adaptive-fastv"}


def main(path):
    rep = json.load(open(path))
    print(f"{rep['count']} held-out questions per kind and row (seed {rep['scene_seed']}, {rep['scene_size']} px frames); "
          "query-aware methods (use the question) are marked *\n")
    for kind, types in (("single", SINGLE), ("sequence", SEQ)):
        rows = [r for r in rep["rows"] if r["kind"] == kind]
        if not rows:
            continue
        print(f"**{'single images' if kind == 'single' else 'frame sequences'}**\n")
        print("| method | keep | visual tokens | exact match | " + " | ".join(types) + " | out of vocab |")
        print("|---|---|---|---|" + "---|" * len(types) + "---|")

        def key(r):
            k = r.get("keep") or ""
            base = r["method"] == "none"
            return (0 if base else 1, -float(k) if k else 0, -(r.get("exact_match") or 0))
        for r in sorted(rows, key=key):
            m = r["method"]
            name = m.split(":")[0]
            mark = "*" if name in QUERY_AWARE else ""
            keep = "-" if m == "none" else (r.get("keep") or "default")
            if r.get("error"):
                print(f"| {m}{mark} | {keep} | n/a | n/a: {r['error'][:80]} |" + " |" * len(types) + " |")
                continue
            by = r.get("exact_match_by_type") or {}
            print(f"| {m}{mark} | {keep} | {r['mean_visual_tokens']:.1f} | {r['exact_match']:.3f} | "
                  + " | ".join(f"{by.get(t, 0):.2f}" for t in types) + f" | {r['out_of_vocabulary']} |")
        print()


if __name__ == "__main__":
    main(sys.argv[1])
