"""Graph value iteration: random MDPs as graphs, optimal values by value iteration.

Each MDP has ``S ~ U{20..49}`` states and ``A_s ~ U{5..9}`` actions per state; action ``a`` in
state ``s`` earns ``R(s, a) ~ U(−1, 1)`` and moves to 1–3 other states (uniformly chosen, never
``s`` itself) with Dirichlet(1) probabilities. Targets are the optimal values ``V*`` from value
iteration with discount 0.9 until ``‖V_{k+1} − V_k‖_∞ < 1e-3``.

Graph form: node ``s`` has features ``[R(s, 0..8), mask(s, 0..8)]`` (rewards padded with 0 and a
1/0 mask of the actions that exist, 18 numbers); there is one edge ``s' -> s`` for each pair with
``P(s' | s, a) > 0`` for some ``a``, with features ``[P(s' | s, 0..8), ln(P(s' | s, 0..8) + 1e-3)]``
(18 numbers). Messages flow from successors to the state whose value they determine.
"""

from __future__ import annotations

import numpy as np
import torch

from graphsolvers.tasks.base import TaskSample

__all__ = [
    "DISCOUNT",
    "EDGE_DIM",
    "MAX_ACTIONS",
    "NODE_DIM",
    "generate_gvi",
    "gvi_metrics",
    "policy_loss",
    "q_values",
    "value_iteration",
]

DISCOUNT = 0.9
MAX_ACTIONS = 9
NODE_DIM = 2 * MAX_ACTIONS
EDGE_DIM = 2 * MAX_ACTIONS


def generate_gvi(
    n_graphs: int,
    *,
    seed: int,
    n_states: tuple[int, int] = (20, 49),
    n_actions: tuple[int, int] = (5, 9),
    successors: tuple[int, int] = (1, 3),
    tol: float = 1e-3,
) -> list[TaskSample]:
    """``n_graphs`` random MDP graphs with optimal values as targets.

    Parameters
    ----------
    n_graphs : int
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same graphs.
    n_states, n_actions, successors : (int, int)
        Inclusive ranges (defaults as in the paper: 20–49 states, 5–9 actions; 1–3 next states).
    tol : float, default 1e-3
        Value-iteration stopping threshold (max-norm change).

    Returns
    -------
    list of TaskSample
        ``meta`` holds ``R`` (S, 9; NaN where no action), ``P`` (S, 9, S) and ``policy`` (optimal actions).

    Examples
    --------
    >>> s = generate_gvi(2, seed=1)
    >>> [20 <= g.num_nodes <= 49 for g in s], s[0].x.shape[1], s[0].edge_attr.shape[1]
    ([True, True], 18, 18)
    """
    if n_actions[1] > MAX_ACTIONS:
        raise ValueError(f"at most {MAX_ACTIONS} actions per state, got range {n_actions}")
    rng = np.random.default_rng(seed)
    return [_one_mdp(rng, n_states, n_actions, successors, tol) for _ in range(n_graphs)]


def value_iteration(
    R: np.ndarray, P: np.ndarray, *, discount: float = DISCOUNT, tol: float = 1e-3, max_iter: int = 10_000
) -> np.ndarray:
    """Optimal state values of the MDP ``(R, P)`` by value iteration (``R`` is NaN where no action).

    Examples
    --------
    >>> import numpy as np
    >>> R = np.array([[1.0, 0.0], [0.0, np.nan]]); P = np.zeros((2, 2, 2)); P[0, :, 1] = 1; P[1, 0, 0] = 1
    >>> np.round(value_iteration(R, P, tol=1e-9), 3).tolist()   # V0 = 1 + .9 V1, V1 = .9 V0
    [5.263, 4.737]
    """
    V = np.zeros(R.shape[0])
    for _ in range(max_iter):
        Q = q_values(R, P, V, discount=discount)
        new = Q.max(axis=1)
        if np.abs(new - V).max() < tol:
            return new
        V = new
    raise RuntimeError("value iteration did not converge")  # unreachable for discount < 1


def q_values(R: np.ndarray, P: np.ndarray, V: np.ndarray, *, discount: float = DISCOUNT) -> np.ndarray:
    """``Q(s, a) = R(s, a) + γ Σ P(s'|s,a) V(s')``, ``-inf`` where the action does not exist."""
    Q = np.nan_to_num(R, nan=0.0) + discount * P @ V
    return np.where(np.isnan(R), -np.inf, Q)


def gvi_metrics(samples: list[TaskSample], predictions: list[np.ndarray]) -> dict[str, float]:
    """``value_mape`` (mean |V̂ − V*| / |V*|, in percent) and ``policy_accuracy``.

    The policy is greedy with respect to the predicted values on the true MDP; it counts as right
    in a state when its action is optimal there (true ``Q`` within 1e-6 of the best).
    """
    ape, correct, total = [], 0, 0
    for s, pred in zip(samples, predictions, strict=True):
        v_true = s.meta["V"]
        v_hat = np.asarray(pred, np.float64).reshape(-1)
        ape.append(np.abs(v_hat - v_true) / np.maximum(np.abs(v_true), 1e-6))
        q_true = q_values(s.meta["R"], s.meta["P"], v_true)
        chosen = q_values(s.meta["R"], s.meta["P"], v_hat).argmax(axis=1)
        best = q_true.max(axis=1)
        correct += int((q_true[np.arange(len(chosen)), chosen] >= best - 1e-6).sum())
        total += len(chosen)
    return {"value_mape": float(np.concatenate(ape).mean() * 100), "policy_accuracy": correct / max(total, 1)}


def _batch_q(x: torch.Tensor, edge_attr: torch.Tensor, edge_index: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``Q(s, a) = R(s, a) + γ Σ_{s'} P(s'|s,a) v(s')`` from the graph features, ``-inf`` where no action."""
    src, dst = edge_index  # s' -> s
    pv = torch.zeros(x.shape[0], MAX_ACTIONS, dtype=v.dtype, device=v.device)
    pv = pv.index_add(0, dst, edge_attr[:, :MAX_ACTIONS] * v.index_select(0, src).unsqueeze(1))
    q = x[:, :MAX_ACTIONS] + DISCOUNT * pv
    return q.masked_fill(x[:, MAX_ACTIONS:] < 0.5, -torch.inf)


def policy_loss(
    x: torch.Tensor,
    edge_attr: torch.Tensor,
    edge_index: torch.Tensor,
    v_hat: torch.Tensor,
    v_true: torch.Tensor,
    *,
    temperature: float = 0.05,
) -> torch.Tensor:
    """Cross-entropy between the greedy action distributions of the predicted and the true values.

    Both sides are ``softmax(Q / temperature)`` over the actions of each state, with ``Q`` computed
    from the graph's own features (rewards, transition probabilities) and ``v_hat`` / ``v_true`` (N,)
    in target units; near-ties in the true ``Q`` give soft targets. This is the training signal of
    the metric that matters for control: the greedy policy depends on value *differences* between
    successors (a few hundredths), which a plain MSE on values of about 8 barely constrains.
    """
    q_hat = _batch_q(x, edge_attr, edge_index, v_hat) / temperature
    with torch.no_grad():
        target = torch.softmax(_batch_q(x, edge_attr, edge_index, v_true) / temperature, dim=1)
    logp = torch.log_softmax(q_hat, dim=1).masked_fill(x[:, MAX_ACTIONS:] < 0.5, 0.0)
    return -(target * logp).sum(dim=1).mean()


def _one_mdp(
    rng: np.random.Generator,
    n_states: tuple[int, int],
    n_actions: tuple[int, int],
    successors: tuple[int, int],
    tol: float,
) -> TaskSample:
    S = int(rng.integers(n_states[0], n_states[1] + 1))
    R = np.full((S, MAX_ACTIONS), np.nan)
    P = np.zeros((S, MAX_ACTIONS, S))
    for s in range(S):
        A = int(rng.integers(n_actions[0], n_actions[1] + 1))
        R[s, :A] = rng.uniform(-1.0, 1.0, size=A)
        others = np.delete(np.arange(S), s)
        for a in range(A):
            k = int(rng.integers(successors[0], successors[1] + 1))
            nxt = rng.choice(others, size=k, replace=False)
            P[s, a, nxt] = rng.dirichlet(np.ones(k))
    V = value_iteration(R, P, tol=tol)
    policy = q_values(R, P, V).argmax(axis=1)
    mask = ~np.isnan(R)
    x = np.concatenate([np.nan_to_num(R, nan=0.0), mask.astype(np.float64)], axis=1).astype(np.float32)
    s_idx, sp_idx = np.nonzero(P.sum(axis=1) > 0)  # pairs (s, s') with some transition
    edge_index = np.stack([sp_idx, s_idx]).astype(np.int64)  # s' -> s
    probs = P[s_idx, :, sp_idx]
    edge_attr = np.concatenate([probs, np.log(probs + 1e-3)], axis=1).astype(np.float32)
    return TaskSample(
        task="gvi",
        x=x,
        edge_index=edge_index,
        edge_attr=edge_attr,
        y=V.astype(np.float32).reshape(-1, 1),
        meta={"R": R, "P": P, "V": V, "policy": policy},
    )
