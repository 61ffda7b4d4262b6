"""The training loop, evaluation and metrics (the MedMNIST evaluator's definitions, in numpy; see classification_metrics)."""
from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from .utils import distributed

METRICS = ("acc", "balanced_acc", "auc", "f1_macro")  # what evaluate() returns


def train(model: torch.nn.Module, train_set: Dataset, val_set: Dataset, epochs: int = 10, lr: float = 1e-3,
          batch_size: int = 32, seed: int = 0, device: str | torch.device = "cpu", weight_decay: float = 1e-4,
          class_weights: str | Sequence[float] | None = None, progress: bool = True, desc: str = "train",
          recalibrate_bn: bool = True, precision: str = "fp32") -> list[dict]:
    """Train `model` on (image, regions, label) batches; keep the epoch with the best validation AUC.

    AdamW with a cosine schedule over all steps, cross-entropy (class_weights: None, "balanced"
    or one weight per class); for multi-label data ((N, L) 0/1 labels) binary cross-entropy per
    label ("balanced": each label's positives weighted by negatives / positives). Model
    selection: validation AUC, ties broken by balanced accuracy; the best weights are restored at the end. Returns one dict per epoch (losses, val metrics,
    lr, seconds; "best" is True where the epoch became the best so far, and the last such epoch
    is the one restored). With the same seed on the CPU, two runs give the same history (bar
    the "seconds" column). With progress=True: a bar, one line per epoch and the restored epoch; a warning
    when the selected model is no better than chance on validation is printed either way.

    precision: "fp32", or "bf16" for the forward and backward passes under bfloat16 autocast (weights and
    optimizer state stay fp32; about 1.3-1.9x faster where the hardware has native bf16, benchmarks/).

    recalibrate_bn: after restoring the best epoch, recompute BatchNorm's running statistics over the
    training set (recalibrate_batchnorm). With few steps they lag behind the weights, and a model
    that ranks the test images perfectly can still predict one class (README, "Your own data").
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs={epochs}, batch_size={batch_size}: both must be at least 1")
    torch.manual_seed(seed)  # shuffling and flips
    model.to(device)
    net, sampler = distributed.wrap(model), distributed.sampler(train_set, seed)  # DDP under torchrun, else model, None
    batch_size = distributed.per_rank(batch_size)  # the global batch stays batch_size
    per_rank = len(sampler) if sampler is not None else len(train_set)
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=sampler is None, sampler=sampler,
                        generator=torch.Generator().manual_seed(seed),
                        drop_last=steps_per_epoch(per_rank, batch_size) < math.ceil(per_rank / batch_size))
    if len(loader) == 0:
        raise ValueError("train_set is empty")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(loader))
    multilabel = np.ndim(getattr(train_set, "labels", ())) == 2
    weight = None if class_weights is None else _class_weights(class_weights, train_set, model.num_classes, device)

    history, best_score, best_state = [], None, None
    # disable=None: the bar is drawn on a terminal only, so a redirected log gets the epoch lines, not carriage returns
    bar = tqdm(total=epochs * len(loader), desc=desc, unit="batch", disable=None if progress else True)
    for epoch in range(1, epochs + 1):
        start, total_loss, seen = time.perf_counter(), 0.0, 0
        model.train()
        if sampler is not None:
            sampler.set_epoch(epoch)  # a new, seeded shuffle every epoch, the same on every rank
        for x, R, y in loader:
            x, R, y = x.to(device), R.to(device), y.to(device)
            with autocast(device, precision):
                logits = net(x, R)
                loss = (F.binary_cross_entropy_with_logits(logits, y, pos_weight=weight) if multilabel
                        else F.cross_entropy(logits, y, weight=weight))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"epoch {epoch}: training loss is {loss.item()}; "
                                         f"lower lr (now {lr}) or look for NaN/inf in the inputs")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss, seen = total_loss + loss.item() * len(y), seen + len(y)
            bar.update()
            bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}")

        scores, labels = predict(model, val_set, batch_size=batch_size, device=device, precision=precision)
        val = classification_metrics(labels, scores)
        val_loss = log_loss(labels, scores)
        history.append({"epoch": epoch, "train_loss": total_loss / seen, "val_loss": val_loss,
                        **{f"val_{k}": v for k, v in val.items()}, "lr": scheduler.get_last_lr()[0],
                        "seconds": time.perf_counter() - start})
        score = (-math.inf if math.isnan(val["auc"]) else val["auc"], val["balanced_acc"])
        history[-1]["best"] = best_score is None or score > best_score
        if history[-1]["best"]:
            best_score, best_val = score, (labels, scores)
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if progress:
            bar.write(f"  epoch {epoch:>3}/{epochs}  train loss {total_loss / seen:.3f}  val loss {val_loss:.3f}  "
                      f"val AUC {val['auc']:.3f}  val bal. acc {val['balanced_acc']:.3f}"
                      + ("  * best so far" if history[-1]["best"] else ""))
    bar.close()
    model.load_state_dict(best_state)
    if recalibrate_bn:
        recalibrate_batchnorm(model, train_set, batch_size=batch_size, device=device, precision=precision)
    labels, scores = predict(model, val_set, batch_size=batch_size, device=device, precision=precision)[::-1] \
        if recalibrate_bn else best_val
    val = classification_metrics(labels, scores)
    if progress:
        best = [h for h in history if h["best"]][-1]
        print(f"  restored epoch {best['epoch']} (val AUC {best['val_auc']:.3f}, val bal. acc {best['val_balanced_acc']:.3f})")
        if recalibrate_bn:
            print(f"  BatchNorm statistics recomputed over the training set: val AUC {val['auc']:.3f}, "
                  f"val bal. acc {val['balanced_acc']:.3f}")
    for warning in validation_warnings(labels, scores, val):  # about the result: printed with progress=False too
        print("  " + warning)
    return history


def validation_warnings(labels: np.ndarray, scores: np.ndarray, val: dict) -> list[str]:
    """What a user must know about the selected model, whatever else is silenced: chance, and a tiny validation split."""
    warnings = []
    if not val["auc"] > 0.5:
        warnings.append(f"warning: the selected model is at or below chance on validation (AUC {val['auc']:.3f}); "
                        "train longer, change lr, or use more data")
    elif warning := chance_warning(labels, scores, split="validation"):
        warnings.append(warning)
    if len(labels) < 20:
        warnings.append(f"note: {len(labels)} validation images choose the epoch; with so few the choice is close to "
                        "chance (give val more images, e.g. --split-fractions 0.6,0.2,0.2)")
    return warnings


def autocast(device: str | torch.device, precision: str):
    """bfloat16 autocast on `device` when precision is "bf16"; a no-op for "fp32"."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision={precision!r}: training runs in fp32 or bf16")
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimizer steps in an epoch over n images: a last batch of one image is dropped (BatchNorm needs two)."""
    return n // batch_size + (n % batch_size > 1) if n > 1 else n


@torch.no_grad()
def recalibrate_batchnorm(model: torch.nn.Module, dataset: Dataset, *, batch_size: int = 64,
                          device: str | torch.device = "cpu", precision: str = "fp32") -> None:
    """BatchNorm's running statistics recomputed as exact averages over `dataset` with the model's current weights.

    The running averages (momentum 0.1) trail the weights by a few dozen steps; a small data set trains for
    fewer than that, so eval-mode activations drift and predictions shift towards one class while the
    ranking (AUC) stays good. One forward pass in train mode, no gradients; a model without BatchNorm
    (Swin V2) is left as it is.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # None: a cumulative average over the pass
    model.to(device).train()
    for x, R, _ in DataLoader(dataset, batch_size=batch_size, drop_last=len(dataset) % batch_size == 1):
        with autocast(device, precision):
            model(x.to(device), R.to(device))
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    model.eval()


def chance_warning(labels: np.ndarray, scores: np.ndarray, split: str = "test") -> str | None:
    """A warning when a model has not shown that it tells the classes of `split` apart, whatever its AUC: it
    predicts (nearly) one class, or its balanced accuracy is within two standard errors of chance for that many
    images (two classes, 16 images: below 0.75). None otherwise, and for multi-label data."""
    present = np.unique(labels)
    if np.ndim(labels) == 2 or len(present) < 2:
        return None
    predicted, counts = np.unique(scores.argmax(1), return_counts=True)
    share, balanced = counts.max() / len(labels), classification_metrics(labels, scores)["balanced_acc"]
    chance = 1 / len(present)
    bar = chance + 2 * math.sqrt(chance * (1 - chance) / len(labels))
    advice = "compare --gate none, train more epochs, or use more data (and more images to score on)"
    if share >= 0.95:
        return (f"warning: on the {split} split the model predicts class {predicted[counts.argmax()]} for {share:.0%} of "
                f"the images (balanced accuracy {balanced:.3f}, chance {chance:.3f}): it does not tell the classes apart, "
                f"whatever its AUC; {advice}")
    if balanced < bar:
        return (f"warning: on the {split} split balanced accuracy {balanced:.3f} over {len(labels)} images is within what "
                f"chance gives (below {bar:.3f}: chance {chance:.3f} plus two standard errors), whatever its AUC; {advice}")
    return None


def log_loss(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean cross-entropy of probabilities: of the true class, or per label (binary) for multi-label data."""
    p = np.clip(scores, 1e-12, 1 - 1e-12)
    if labels.ndim == 2:
        return float(-(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean())
    return float(-np.log(p[np.arange(len(labels)), labels]).mean())


@torch.no_grad()
def predict(model: torch.nn.Module, dataset: Dataset, *, batch_size: int = 64,
            device: str | torch.device = "cpu", precision: str = "fp32") -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (N, num_classes) and labels for every item of `dataset`: softmax over classes, or a
    sigmoid per label when the labels are multi-label vectors."""
    model.to(device).eval()
    scores, labels = [], []
    mine = Subset(dataset, distributed.shard(len(dataset)))  # under torchrun: this rank's block, gathered below
    for x, R, y in DataLoader(mine, batch_size=batch_size):
        with autocast(device, precision):
            logits = model(x.to(device), R.to(device)).float()
        scores.append((torch.sigmoid(logits) if y.dim() == 2 else torch.softmax(logits, dim=1)).cpu())
        labels.append(y)
    if len(dataset) == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    labels = torch.cat(labels) if labels else torch.empty(0)
    scores = torch.cat(scores).double().numpy() if scores else np.empty((0, 0))
    return distributed.gather(scores), distributed.gather((labels.long() if labels.dim() == 2 else labels).numpy())


def evaluate(model: torch.nn.Module, dataset: Dataset, *, batch_size: int = 64,
             device: str | torch.device = "cpu") -> dict[str, float]:
    """{"acc", "balanced_acc", "auc", "f1_macro"} of `model` on `dataset`."""
    scores, labels = predict(model, dataset, batch_size=batch_size, device=device)
    return classification_metrics(labels, scores)


def classification_metrics(y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Metrics of class probabilities (N, C) against labels (N,).

    The MedMNIST evaluator's definitions, with two differences: a class absent from y_true is
    left out of the multi-class AUC and the balanced accuracy (the evaluator's sklearn call
    fails on it), and AUC is computed on whatever scores are passed (pass softmax
    probabilities, as `predict` does: raw logits give a different binary AUC).

    acc: accuracy of argmax. balanced_acc: mean recall over the classes present in y_true.
    auc: binary, ROC AUC of the last column; multi-class, mean one-vs-rest ROC AUC over the
    classes present in y_true (NaN when it is undefined). f1_macro: mean F1 over the classes in
    y_true or the predictions (F1 = 0 where a class is never predicted).
    """
    if np.ndim(y_true) == 2:
        return multilabel_metrics(np.asarray(y_true).astype(int), np.asarray(scores, dtype=float))
    y_true, scores = np.asarray(y_true).astype(int).ravel(), np.asarray(scores, dtype=float)
    y_pred = scores.argmax(1)
    present = np.unique(y_true)
    recall = {c: np.mean(y_pred[y_true == c] == c) for c in present}
    f1 = []
    for c in np.union1d(present, y_pred):
        tp = np.sum((y_pred == c) & (y_true == c))
        denominator = np.sum(y_pred == c) + np.sum(y_true == c)
        f1.append(2 * tp / denominator)
    if scores.shape[1] == 2:
        auc = roc_auc(y_true == 1, scores[:, 1])
    else:
        aucs = [roc_auc(y_true == c, scores[:, c]) for c in present]
        auc = float(np.mean(aucs)) if len(present) > 1 else math.nan
    return {"acc": float(np.mean(y_pred == y_true)), "balanced_acc": float(np.mean(list(recall.values()))),
            "auc": float(auc), "f1_macro": float(np.mean(f1))}


def multilabel_metrics(y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Multi-label (N, L) 0/1 labels and per-label probabilities, as the MedMNIST evaluator defines them:
    acc, the mean over labels of the accuracy at threshold 0.5; auc, the mean ROC AUC over labels
    (labels with one class only in y_true left out). balanced_acc and f1_macro: the mean over labels
    of each label's binary balanced accuracy and macro F1 (over its two classes)."""
    y_pred = scores > 0.5
    per_label = [classification_metrics(y_true[:, j], np.stack([1 - scores[:, j], scores[:, j]], 1))
                 for j in range(y_true.shape[1])]
    aucs = [m["auc"] for m in per_label if not math.isnan(m["auc"])]
    return {"acc": float((y_pred == y_true).mean()), "balanced_acc": float(np.mean([m["balanced_acc"] for m in per_label])),
            "auc": float(np.mean(aucs)) if aucs else math.nan, "f1_macro": float(np.mean([m["f1_macro"] for m in per_label]))}


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic: P(score of a positive > score of a negative), ties count 1/2."""
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        return math.nan
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2  # 1-based rank shared by each group of tied scores
    rank_sum = average_rank[inverse][positive].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _class_weights(class_weights, train_set: Dataset, num_classes: int, device) -> torch.Tensor:
    if isinstance(class_weights, str):
        if class_weights != "balanced":
            raise ValueError(f"class_weights={class_weights!r}: use None, 'balanced' or one weight per class")
        labels = np.asarray(train_set.labels)
        if labels.ndim == 2:  # multi-label: BCE's pos_weight, negatives / positives per label
            positives = labels.sum(0)
            class_weights = (len(labels) - positives) / np.maximum(positives, 1)
        else:
            counts = np.bincount(labels, minlength=num_classes)
            class_weights = len(labels) / (num_classes * np.maximum(counts, 1))
    if len(class_weights) != num_classes:
        raise ValueError(f"class_weights has {len(class_weights)} entries; the model has {num_classes} classes")
    return torch.as_tensor(class_weights, dtype=torch.float32, device=device)
