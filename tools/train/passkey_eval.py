"""Passkey accuracy of a model in PyTorch, on the prompts of data.eval_documents.

A case is correct when the teacher-forced argmax at each of the 6 positions of
" KKKKK" (space + 5 digits) equals the gold token: exactly what greedy decoding
after the prompt would print first.
"""

import torch

import data

EVAL_SEED = 1000
EVAL_LENGTHS = [256, 320, 384, 448, 512]
EVAL_DEPTHS = [0.0, 0.25, 0.5, 0.75, 1.0]


@torch.no_grad()
def passkey_accuracy(model, lengths, depths, n_per_depth, string=None, batch=8, seed=EVAL_SEED):
    """Returns {length: {"acc": float, "by_depth": {depth: float}, "mean_distance": float}}."""
    model.eval()
    result = {}
    for length in lengths:
        cases = data.eval_documents(seed, length, depths, n_per_depth)
        correct = []
        distances = []
        for start in range(0, len(cases), batch):
            chunk = cases[start:start + batch]
            width = max(len(doc.tokens) for _, doc in chunk)
            # Right padding with EOS cannot change earlier positions (causal attention).
            rows = [doc.tokens + [data.EOS] * (width - len(doc.tokens)) for _, doc in chunk]
            logits = model(torch.tensor(rows), string=string)
            pred = logits.argmax(-1)
            for row, (_, doc) in enumerate(chunk):
                p0 = len(doc.prompt)  # first answer token (the space) is predicted at p0 - 1
                gold = torch.tensor(doc.tokens[p0:p0 + 6])
                correct.append(bool((pred[row, p0 - 1:p0 + 5] == gold).all()))
                distances.append(doc.distance)
        by_depth = {}
        for i, depth in enumerate(depths):
            part = correct[i * n_per_depth:(i + 1) * n_per_depth]
            by_depth[str(depth)] = sum(part) / len(part)
        result[str(length)] = {
            "acc": sum(correct) / len(correct),
            "by_depth": by_depth,
            "mean_distance": sum(distances) / len(distances),
            "max_distance": max(distances),
        }
    model.train()
    return result


def main():
    import argparse
    import json
    import os

    import model as mdl

    p = argparse.ArgumentParser(description="Passkey accuracy of a llama2.c checkpoint, plain RoPE and STRING.")
    p.add_argument("bin", help="llama2.c checkpoint (e.g. models/shiftrope-passkey-258.bin)")
    p.add_argument("--string", default="", help="comma-separated S:W pairs to evaluate besides plain RoPE")
    p.add_argument("--lengths", default=",".join(str(v) for v in EVAL_LENGTHS))
    p.add_argument("--n", type=int, default=20, help="cases per (length, depth)")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    torch.set_num_threads(a.threads)
    model = mdl.load_llama2c(a.bin)
    lengths = [int(v) for v in a.lengths.split(",")]
    configs = [("rope", None)] + [("string-S%s-W%s" % tuple(s.split(":")), tuple(int(v) for v in s.split(":")))
                                  for s in a.string.split(",") if s]
    for name, string in configs:
        r = passkey_accuracy(model, lengths, EVAL_DEPTHS, a.n, string=string)
        print(json.dumps({"config": name, "acc": {k: v["acc"] for k, v in r.items()},
                          "by_depth": {k: v["by_depth"] for k, v in r.items()}}), flush=True)


if __name__ == "__main__":
    main()
