"""Probes: how much SAM's region descriptors know on their own, with no CNN at all.

Each image's regions are mean-pooled to one 256-d vector and standardized with the train
split's mean and std. `linear_probe` is multinomial logistic regression (L-BFGS, a little L2);
`knn_probe` votes among the k nearest train vectors by cosine similarity (k = 11). Both return
class probabilities (N, C) for the test vectors, scored like every other model.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def pooled_features(regions: np.ndarray) -> torch.Tensor:
    """(N, 256, g, g) regions -> (N, 256) float32 mean over the grid."""
    return torch.from_numpy(np.asarray(regions, dtype=np.float32)).mean((2, 3))


def standardize(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    mean, std = train.mean(0), train.std(0).clamp_min(1e-6)
    return [(t - mean) / std for t in (train, *others)]


def linear_probe(train_x: torch.Tensor, train_y: np.ndarray, test_x: torch.Tensor, num_classes: int,
                 weight_decay: float = 1e-3, steps: int = 200) -> np.ndarray:
    """Logistic regression on standardized features; returns test probabilities (N, C)."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(train_x.shape[1], num_classes)
    y = torch.as_tensor(train_y)
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(linear(train_x), y) + weight_decay * linear.weight.square().sum()
        loss.backward()
        return loss
    optimizer.step(closure)
    with torch.no_grad():
        return torch.softmax(linear(test_x), 1).double().numpy()


def knn_probe(train_x: torch.Tensor, train_y: np.ndarray, test_x: torch.Tensor, num_classes: int, k: int = 11) -> np.ndarray:
    """Share of each class among the k most cosine-similar train vectors; returns test probabilities (N, C)."""
    similarity = F.normalize(test_x, dim=1) @ F.normalize(train_x, dim=1).T  # (N_test, N_train)
    nearest = similarity.topk(min(k, len(train_x)), dim=1).indices  # (N_test, k)
    votes = F.one_hot(torch.as_tensor(train_y)[nearest], num_classes).double()  # (N_test, k, C)
    return votes.mean(1).numpy()
