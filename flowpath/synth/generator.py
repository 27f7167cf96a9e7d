"""Random flowcharts that look like the ones people draw: a start, steps, decisions with Yes/No (or
free-text) branches that rejoin or loop back, input/output steps, data stores, one or more ends, and
labels from one to a dozen words from a chosen domain."""

from __future__ import annotations

import random

from graphsolvers.graph import Edge, Graph, Node

__all__ = ["DOMAINS", "random_flowchart"]

DOMAINS: dict[str, dict[str, list[str]]] = {
    "software": {
        "verbs": ["Parse", "Validate", "Load", "Send", "Retry", "Log", "Cache", "Compile", "Deploy", "Query"],
        "objects": [
            "the request",
            "user input",
            "config file",
            "session token",
            "database rows",
            "build artefacts",
            "error report",
            "API response",
            "pending jobs",
            "the payload",
        ],
        "questions": [
            "Is the token valid?",
            "Cache hit?",
            "Tests passed?",
            "Retries left?",
            "Response OK?",
            "User authorised?",
        ],
        "edge": ["Yes", "No", "valid", "timeout", "retry", "on error", "cache miss"],
    },
    "cooking": {
        "verbs": ["Chop", "Boil", "Season", "Stir", "Bake", "Rinse", "Whisk", "Serve", "Preheat", "Taste"],
        "objects": [
            "the onions",
            "pasta water",
            "the sauce",
            "fresh basil",
            "the dough",
            "two eggs",
            "the oven",
            "vegetable stock",
            "the garnish",
            "olive oil",
        ],
        "questions": [
            "Is the water boiling?",
            "Dough risen?",
            "Sauce too thick?",
            "Guests vegetarian?",
            "Golden brown?",
        ],
        "edge": ["Yes", "No", "too salty", "after 10 min", "Thermal Paste"],
    },
    "maintenance": {
        "verbs": ["Inspect", "Replace", "Clean", "Tighten", "Apply", "Remove", "Test", "Record", "Order", "Drain"],
        "objects": [
            "the air filter",
            "thermal paste",
            "brake pads",
            "the fan",
            "loose screws",
            "the old battery",
            "coolant level",
            "wiring harness",
            "spare parts",
            "the gasket",
        ],
        "questions": ["Is the fan noisy?", "Pads worn out?", "Leak found?", "Part in stock?", "Voltage normal?"],
        "edge": ["Yes", "No", "Thermal Paste", "worn", "in stock", "leaking"],
    },
    "finance": {
        "verbs": [
            "Review",
            "Approve",
            "Submit",
            "Reconcile",
            "Calculate",
            "Notify",
            "Archive",
            "Flag",
            "Pay",
            "Verify",
        ],
        "objects": [
            "the invoice",
            "expense claim",
            "monthly budget",
            "tax return",
            "supplier details",
            "bank statement",
            "purchase order",
            "audit trail",
            "the refund",
            "credit limit",
        ],
        "questions": [
            "Amount over limit?",
            "Receipt attached?",
            "Budget approved?",
            "Duplicate payment?",
            "Account verified?",
        ],
        "edge": ["Yes", "No", "over limit", "approved", "rejected"],
    },
    "health": {
        "verbs": [
            "Measure",
            "Record",
            "Refer",
            "Schedule",
            "Prescribe",
            "Monitor",
            "Assess",
            "Discharge",
            "Vaccinate",
            "Counsel",
        ],
        "objects": [
            "blood pressure",
            "patient history",
            "a specialist",
            "follow-up visit",
            "pain medication",
            "heart rate",
            "symptoms",
            "the patient",
            "lab results",
            "allergy status",
        ],
        "questions": [
            "Fever above 38C?",
            "Symptoms improved?",
            "Allergic to penicillin?",
            "Results normal?",
            "Emergency case?",
        ],
        "edge": ["Yes", "No", "urgent", "stable", "abnormal"],
    },
}
"""Vocabulary per domain: step verbs and objects, decision questions, edge-label phrases."""

_EXTRA = [
    "carefully",
    "before continuing",
    "for all items",
    "using the checklist",
    "and write it down",
    "in the shared folder",
    "if required by policy",
    "with the team lead",
    "twice",
    "for at least 5 minutes",
]


def random_flowchart(
    seed: int, *, n_nodes: int | None = None, domain: str | None = None, direction: str = "TD"
) -> Graph:
    """A random flowchart of ``n_nodes`` nodes (random in 5–45 when None) as a :class:`Graph`.

    Node ids are ``A, B, …, Z, N26, …``; kinds and Mermaid shapes follow the flowchart conventions
    (``attrs["shape"]`` set where the kind alone does not name it).

    Raises
    ------
    ValueError
        If ``n_nodes`` is below 3 or ``domain`` is unknown.

    Examples
    --------
    >>> g = random_flowchart(seed=1, n_nodes=12, domain="cooking", direction="LR")
    >>> len(g.nodes), g.attrs["direction"]
    (12, 'LR')
    """
    rng = random.Random(seed)
    n = n_nodes if n_nodes is not None else rng.randint(5, 45)
    if n < 3:
        raise ValueError(f"n_nodes must be at least 3, got {n}")
    if domain is None:
        domain = rng.choice(sorted(DOMAINS))
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; choose one of {', '.join(sorted(DOMAINS))}")
    vocab = DOMAINS[domain]
    nodes: list[Node] = [Node(id="A", text=rng.choice(["Start", "Begin", "Start process"]), kind="start")]
    edges: list[Edge] = []
    open_ends: list[tuple[str, str | None]] = [("A", None)]
    n_ends = 1 if n < 12 or rng.random() < 0.6 else 2
    budget = n - n_ends
    while len(nodes) < budget and open_ends:
        src, label = open_ends.pop(0 if rng.random() < 0.5 else -1)
        node = _random_node(rng, _node_id(len(nodes)), vocab, decision_ok=len(nodes) + 2 < budget)
        nodes.append(node)
        edges.append(Edge(source=src, target=node.id, label=label))
        if node.kind == "decision":
            yes, no = ("Yes", "No") if rng.random() < 0.8 else tuple(rng.sample(vocab["edge"], 2))
            open_ends += [(node.id, yes), (node.id, no)]
        else:
            open_ends.append((node.id, None))
        # a branch loops back to an earlier step, or rejoins another open branch later
        if len(open_ends) > 1 and rng.random() < 0.25:
            back_src, back_label = open_ends.pop(rng.randrange(len(open_ends)))
            earlier = [x.id for x in nodes[1:-1] if x.id != back_src]
            if earlier:
                edges.append(Edge(source=back_src, target=rng.choice(earlier), label=back_label))
            else:
                open_ends.append((back_src, back_label))
    end_ids = [_node_id(len(nodes) + i) for i in range(n_ends)]
    for i, eid in enumerate(end_ids):
        nodes.append(Node(id=eid, text=rng.choice(["End", "Stop", "Done", "Finish"]) if i == 0 else "End", kind="end"))
    for src, label in open_ends or [(nodes[-n_ends - 1].id, None)]:
        edges.append(Edge(source=src, target=rng.choice(end_ids), label=label))
    for eid in end_ids:  # every end is reached
        if not any(e.target == eid for e in edges):
            edges.append(Edge(source=nodes[rng.randrange(1, len(nodes) - n_ends)].id, target=eid))
    attrs = {} if direction == "TD" else {"direction": direction}
    return Graph(nodes=nodes, edges=_dedupe(edges), attrs=attrs)


def _node_id(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"N{i}"


def _random_node(rng: random.Random, node_id: str, vocab: dict[str, list[str]], *, decision_ok: bool) -> Node:
    r = rng.random()
    if decision_ok and r < 0.25:
        return Node(id=node_id, text=rng.choice(vocab["questions"]), kind="decision")
    words = f"{rng.choice(vocab['verbs'])} {rng.choice(vocab['objects'])}"
    if rng.random() < 0.3:
        words += " " + rng.choice(_EXTRA)
    if r < 0.4:
        shape = rng.choice(["parallelogram", "parallelogram", "parallelogram_alt", "trapezoid", "cylinder"])
        return Node(id=node_id, text=words, kind="io", attrs={} if shape == "parallelogram" else {"shape": shape})
    shape = rng.choice(["rect"] * 6 + ["round", "hexagon", "subroutine"])
    return Node(id=node_id, text=words, kind="process", attrs={} if shape == "rect" else {"shape": shape})


def _dedupe(edges: list[Edge]) -> list[Edge]:
    seen: set[tuple[str, str]] = set()
    out = []
    for e in edges:
        if (e.source, e.target) in seen or e.source == e.target:
            continue
        seen.add((e.source, e.target))
        out.append(e)
    return out
