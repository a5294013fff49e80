"""Train the shiftrope passkey model (byte-level Llama, CPU, PyTorch) and export it.

    nice -n 10 /usr/bin/python3 tools/train/train.py --out tools/train/out   (defaults = the shipped run)
    /usr/bin/python3 tools/train/train.py --smoke --out /tmp/smoke

See tools/train/README.md for the data format and the outputs.
"""

import argparse
import json
import math
import os
import random
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import model as mdl  # noqa: E402
import passkey_eval  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"))
    p.add_argument("--smoke", action="store_true", help="tiny run (< 1 minute) to check the pipeline")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=4, help="sequences per step")
    p.add_argument("--seq-len", type=int, default=512, help="training length L")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--hidden-dim", type=int, default=384)
    p.add_argument("--n-layers", type=int, default=4)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--n-kv-heads", type=int, default=2)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr-ratio", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--answer-weight", type=float, default=10.0,
                   help="loss weight of the 5 answer digits (others weigh 1)")
    p.add_argument("--copy-weight", type=float, default=10.0,
                   help="loss weight of the 5 digits of the key's second copy inside the needle")
    p.add_argument("--drill-fraction", type=float, default=0.25,
                   help="fraction of sequences that are repeat drills (data.drill_document)")
    p.add_argument("--drill-warmup-steps", type=int, default=300,
                   help="steps of the byte copy drill (data.byte_drill_batch) before the main phase")
    p.add_argument("--drill-warmup-batch", type=int, default=16)
    p.add_argument("--drill-warmup-half", type=int, default=32, help="random bytes per copy in the warm-up drill")
    p.add_argument("--mean-filler", type=float, default=128.0,
                   help="mean filler bytes per document (exponential, left-skewed lengths)")
    p.add_argument("--max-minutes", type=float, default=40.0,
                   help="wall-time budget: the LR schedule follows max(step/steps, time/budget)")
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--eval-n", type=int, default=20, help="final eval cases per (length, depth)")
    p.add_argument("--string", default="170:32,128:32",
                   help="STRING (S:W) pairs evaluated at the end, comma-separated; '' for none")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    if a.smoke:
        a.steps, a.batch, a.warmup, a.eval_every, a.eval_n, a.log_every = 40, 4, 5, 20, 2, 5
        a.drill_warmup_steps = 10
        a.string = "256:64"
        a.max_minutes = 1.0
    return a


def lr_at(args, progress):
    """Linear warmup, then cosine from lr to lr * min_lr_ratio as progress goes 0 -> 1."""
    step_lr = args.lr * min(1.0, (progress * args.steps + 1) / max(1, args.warmup))
    cos = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return min(step_lr, args.lr * (args.min_lr_ratio + (1.0 - args.min_lr_ratio) * cos))


def make_optimizer(model, args):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95), eps=1e-8)


def get_batch(stream, batch):
    toks, masks = zip(*(stream.next_sequence() for _ in range(batch)))
    t = torch.tensor(toks, dtype=torch.long)
    m = torch.tensor(masks, dtype=torch.long)
    return t[:, :-1], t[:, 1:], m[:, 1:]


def loss_terms(model, x, y, kind, answer_weight, copy_weight):
    """Weighted mean cross-entropy, plain mean, and the mean over answer digits alone."""
    logits = model(x)
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none").view_as(y)
    answer_mask = kind == data.ANSWER_DIGIT
    w = torch.ones_like(ce)
    w[answer_mask] = answer_weight
    w[kind == data.NEEDLE_COPY_DIGIT] = copy_weight
    loss = (ce * w).sum() / w.sum()
    ans_ce = (ce * answer_mask).sum() / answer_mask.sum().clamp(min=1)
    copy_mask = kind == data.NEEDLE_COPY_DIGIT
    copy_ce = (ce * copy_mask).sum() / copy_mask.sum().clamp(min=1)
    drill_mask = kind == data.DRILL_COPY
    drill_ce = (ce * drill_mask).sum() / drill_mask.sum().clamp(min=1) if drill_mask.any() else None
    return loss, ce.mean(), ans_ce, copy_ce, drill_ce


class Log:
    def __init__(self, path):
        self.f = open(path, "a")

    def __call__(self, msg):
        line = time.strftime("%H:%M:%S ") + msg
        print(line, file=sys.stderr, flush=True)
        self.f.write(line + "\n")
        self.f.flush()


def drill_warmup(model, opt, args, log):
    """Phase 1: short byte copy drills (2 x drill_warmup_half random bytes), where every
    second-half token is only predictable by copying. A 4-layer model forms its copy
    heads here in ~100-200 steps, which on the sparse passkey signal at L = 512 it did
    not do in 1,200 steps. Linear LR warm-up over the first 30 steps, then args.lr."""
    rng = data.SplitMix64(args.seed + 0x5EED)
    half = args.drill_warmup_half
    curve = []
    acc = 0.0
    for step in range(1, args.drill_warmup_steps + 1):
        for g in opt.param_groups:
            g["lr"] = args.lr * min(1.0, step / 30.0)
        t = torch.tensor(data.byte_drill_batch(rng, args.drill_warmup_batch, half))
        logits = model(t[:, :-1])
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t[:, 1:].reshape(-1),
                             reduction="none").view(t.shape[0], -1)
        loss = ce.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        acc += ce[:, half:].mean().item()  # targets r[0..half-1] of the second copy
        if step % args.log_every == 0 or step == args.drill_warmup_steps:
            n = step % args.log_every or args.log_every
            curve.append({"step": step, "copy_ce": acc / n})
            log("drill step %d second-copy ce %.4f (ln 256 = 5.55 without copying)" % (step, acc / n))
            acc = 0.0
    return curve


def histogram(counts, bin_width, limit):
    bins = [0] * ((limit + bin_width - 1) // bin_width)
    for v, c in counts.items():
        bins[min(v // bin_width, len(bins) - 1)] += c
    return {"bin_width": bin_width, "counts": bins}


def position_frequency(doc_len_counts, limit):
    """f(i) = sum over documents of max(len - i, 0): how often relative distance i occurs inside a document."""
    return [sum(c * max(n - i, 0) for n, c in doc_len_counts.items()) for i in range(limit)]


def write_fixtures(model, out):
    """Round-trip fixture: a whole fixed evaluation document (<= 256 tokens) and its logits.

    Files: model.tokens (comma-separated ids), model.logits.f32 ([n x vocab]
    float32 LE, plain RoPE) and model.string-S64-W16.logits.f32 (STRING, S = 64,
    W = 16: a short document still has keys at d >= S).
    """
    doc = data.eval_documents(passkey_eval.EVAL_SEED, 256, [0.5], 1)[0][1]
    tokens = doc.tokens
    with open(os.path.join(out, "model.tokens"), "w") as f:
        f.write(",".join(str(t) for t in tokens) + "\n")
    model.eval()
    with torch.no_grad():
        x = torch.tensor([tokens])
        model(x)[0].numpy().astype("<f4").tofile(os.path.join(out, "model.logits.f32"))
        model(x, string=(64, 16))[0].numpy().astype("<f4").tofile(
            os.path.join(out, "model.string-S64-W16.logits.f32"))
    model.train()
    return len(tokens)


def main():
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    log = Log(os.path.join(args.out, "train.log"))
    cfg = mdl.Config(dim=args.dim, hidden_dim=args.hidden_dim, n_layers=args.n_layers, n_heads=args.n_heads,
                     n_kv_heads=args.n_kv_heads, vocab_size=data.VOCAB_SIZE, seq_len=args.seq_len)
    model = mdl.Transformer(cfg)
    opt = make_optimizer(model, args)
    stream = data.PackedStream(args.seed, args.seq_len, args.mean_filler, drill_fraction=args.drill_fraction)
    log("config %s params %d args %s" % (json.dumps(cfg.to_dict()), mdl.n_params(model), json.dumps(vars(args))))

    budget_s = args.max_minutes * 60.0
    t0 = time.time()
    drill_curve = drill_warmup(model, opt, args, log)
    curve = []
    evals = []
    acc_loss = acc_ce = acc_ans = acc_copy = acc_drill = 0.0
    acc_n = acc_drill_n = 0
    step = 0
    stop_reason = "steps"
    while True:
        elapsed = time.time() - t0
        progress = max(step / args.steps, elapsed / budget_s)
        if progress >= 1.0:
            stop_reason = "steps" if step >= args.steps else "time"
            break
        lr = lr_at(args, progress)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y, m = get_batch(stream, args.batch)
        loss, ce, ans, cop, dri = loss_terms(model, x, y, m, args.answer_weight, args.copy_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        acc_loss += loss.item()
        acc_ce += ce.item()
        acc_ans += ans.item()
        acc_copy += cop.item()
        if dri is not None:
            acc_drill += dri.item()
            acc_drill_n += 1
        acc_n += 1
        if step % args.log_every == 0:
            el = time.time() - t0
            rec = {"step": step, "loss": acc_loss / acc_n, "ce": acc_ce / acc_n, "answer_ce": acc_ans / acc_n,
                   "copy_ce": acc_copy / acc_n,
                   "drill_ce": acc_drill / acc_drill_n if acc_drill_n else None,
                   "lr": lr, "time_s": round(el, 1)}
            curve.append(rec)
            log("step %d loss %.4f ce %.4f answer_ce %.4f copy_ce %.4f drill_ce %s lr %.2e %.1fs (%.2f s/step)" %
                (step, rec["loss"], rec["ce"], rec["answer_ce"], rec["copy_ce"],
                 "%.4f" % rec["drill_ce"] if rec["drill_ce"] is not None else "-", lr, el, el / step))
            acc_loss = acc_ce = acc_ans = acc_copy = acc_drill = 0.0
            acc_n = acc_drill_n = 0
        if step % args.eval_every == 0:
            r = passkey_eval.passkey_accuracy(model, [256, 384, 512], [0.0, 0.5, 1.0], 4)
            evals.append({"step": step, "acc": {k: v["acc"] for k, v in r.items()}})
            log("eval step %d passkey acc %s" % (step, json.dumps(evals[-1]["acc"])))
    train_s = time.time() - t0
    log("stopped after %d steps (%s), %.1f s" % (step, stop_reason, train_s))

    torch.save(model.state_dict(), os.path.join(args.out, "model.pt"))
    bin_path = os.path.join(args.out, "model.bin")
    mdl.export_llama2c(model, bin_path)
    n_fix = write_fixtures(model, args.out)
    log("wrote %s (%d bytes) and a %d-token fixture" % (bin_path, os.path.getsize(bin_path), n_fix))

    n_eval = args.eval_n
    final = {"rope": passkey_eval.passkey_accuracy(model, passkey_eval.EVAL_LENGTHS, passkey_eval.EVAL_DEPTHS,
                                                  n_eval)}
    log("final passkey (rope) %s" % json.dumps({k: v["acc"] for k, v in final["rope"].items()}))
    for pair in [s for s in args.string.split(",") if s]:
        shift, window = (int(v) for v in pair.split(":"))
        key = "string-S%d-W%d" % (shift, window)
        final[key] = passkey_eval.passkey_accuracy(model, passkey_eval.EVAL_LENGTHS, passkey_eval.EVAL_DEPTHS,
                                                   n_eval, string=(shift, window))
        log("final passkey (%s) %s" % (key, json.dumps({k: v["acc"] for k, v in final[key].items()})))

    limit = args.seq_len + 1
    stats = {
        "model": cfg.to_dict(),
        "n_params": mdl.n_params(model),
        "checkpoint_bytes": os.path.getsize(bin_path),
        "args": vars(args),
        "steps": step,
        "stop_reason": stop_reason,
        "train_seconds": round(train_s, 1),
        "tokens_seen": step * args.batch * args.seq_len,
        "documents_seen": stream.n_docs,
        "drill_sequences_seen": stream.n_drill_sequences,
        "final_loss": curve[-1] if curve else None,
        "drill_warmup_curve": drill_curve,
        "loss_curve": curve,
        "passkey_during_training": evals,
        "passkey_eval": {"seed": passkey_eval.EVAL_SEED, "depths": passkey_eval.EVAL_DEPTHS,
                         "n_per_depth": n_eval, "results": final},
        "needle_distance_histogram": histogram(stream.distance_counts, 16, limit),
        "document_length_histogram": histogram(stream.doc_len_counts, 16, limit),
        "in_document_position_frequency_every_16": position_frequency(stream.doc_len_counts, limit)[::16],
        "fixture": {"tokens": "model.tokens", "logits": "model.logits.f32",
                    "string_logits": "model.string-S64-W16.logits.f32", "n_tokens": n_fix},
    }
    with open(os.path.join(args.out, "train_stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    log("done, total %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
