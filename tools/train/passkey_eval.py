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
