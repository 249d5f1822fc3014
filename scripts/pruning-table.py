#!/usr/bin/python3
"""Formats `vlmrun eval --json` objects (concatenated on stdin) as the
pruning accuracy table; also writes them as JSON lines to argv[1]."""
import json
import sys


def main():
    dec, s, i, rows = json.JSONDecoder(), sys.stdin.read(), 0, []
    while i < len(s):
        while i < len(s) and s[i].isspace():
            i += 1
        if i >= len(s):
            break
        o, i = dec.raw_decode(s, i)
        rows.append(o)
    with open(sys.argv[1], "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    base = next(r for r in rows if r["prune"] == "none")
    print("unpruned: exact match %.3f, object F1 %.3f (%d scenes)\n"
          % (base["exact_match"], base["object_f1"], base["count"]))
    print("cells: exact match / object F1 (visual tokens at the first → last decoder layer)\n")
    print("| method | keep 0.5 | keep 0.25 | keep 0.11 |")
    print("|---|---|---|---|")

    def cell(r):
        if r is None:
            return "-"
        return "%.3f / %.3f (%.1f → %.1f)" % (r["exact_match"], r["object_f1"],
                                              r["mean_visual_tokens"], r["mean_visual_tokens_last_layer"])
    by = {}
    for r in rows:
        if r["prune"] != "none":
            by.setdefault(r["prune"], {})[r["keep"] or "-"] = r
    for m, ks in by.items():
        if set(ks) <= {"1.0", "-"}:
            print("| %s (adaptive budget) | %s | | |" % (m, cell(next(iter(ks.values())))))
        else:
            print("| %s | %s | %s | %s |" % (m, cell(ks.get("0.5")), cell(ks.get("0.25")), cell(ks.get("0.11"))))


if __name__ == "__main__":
    main()
