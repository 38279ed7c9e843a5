"""Reference submission for tox21-toxicity: a GIN over RDKit's molecular graphs, in plain PyTorch.

``predict(model, inputs)`` takes a numpy array of SMILES strings and returns an (n, 12) array
of probabilities, one column per assay in the file's order (``ASSAYS``), for every molecule:
the grader scores an assay only on the molecules it was run on, but a prediction has no holes.

The network is Hu et al.'s GIN without pre-training (ICLR 2020, the ``GINConv`` of
snap-stanford/pretrain-gnns): each layer sums, over an atom's bonds and a self-loop, the
neighbour's state plus an embedding of the bond, then applies a two-layer MLP and batch norm;
the mean over atoms is the molecule's vector and a linear head gives twelve logits.  The
atoms and bonds carry more than Hu et al.'s element and chirality, bond type and direction
(degree, charge, hydrogens, hybridisation, aromaticity; conjugation, ring, stereo), which a
short CPU training without pre-training can use.  Message passing is ``index_add_`` over one
disjoint graph per chunk of molecules, so neither torch_geometric nor torch_scatter is needed.

A SMILES RDKit cannot read gets each assay's training prevalence (a constant ranks nowhere,
and it is a calibrated guess).  The prevalence and the architecture's sizes are buffers, so
``model.pt`` is all the model needs.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem
from rdkit.rdBase import BlockLogs
from torch import nn

WEIGHTS_FILE = "model.pt"

#: The assays, in the column order of the data file and of a prediction.
ASSAYS = (
    "NR-AR", "NR-AR-LBD", "NR-AhR", "NR-Aromatase", "NR-ER", "NR-ER-LBD", "NR-PPAR-gamma",
    "SR-ARE", "SR-ATAD5", "SR-HSE", "SR-MMP", "SR-p53",
)  # fmt: skip

#: The elements seen at least five times in Tox21; the rarer metals share one "other" bucket.
ELEMENTS = (
    "C", "O", "N", "Cl", "S", "F", "Br", "P", "I", "Si", "B",
    "Sn", "Hg", "As", "Zn", "Cr", "Na", "H", "Fe", "Se", "Cu", "Au",
)  # fmt: skip
DEGREES = (0, 1, 2, 3, 4, 5)
FORMAL_CHARGES = (-2, -1, 0, 1, 2)
HYDROGEN_COUNTS = (0, 1, 2, 3, 4)
HYBRIDISATIONS = tuple(
    getattr(Chem.rdchem.HybridizationType, name)
    for name in ("S", "SP", "SP2", "SP3", "SP3D", "SP3D2")
)
CHIRAL_TAGS = tuple(
    getattr(Chem.rdchem.ChiralType, name)
    for name in ("CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW")
)
BOND_TYPES = tuple(
    getattr(Chem.rdchem.BondType, name) for name in ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
)
BOND_STEREO = tuple(
    getattr(Chem.rdchem.BondStereo, name) for name in ("STEREONONE", "STEREOZ", "STEREOE")
)

#: Categories per atom feature, each with a last "other" bucket (aromaticity needs none).
ATOM_VOCABULARY = (
    len(ELEMENTS) + 1,
    len(DEGREES) + 1,
    len(FORMAL_CHARGES) + 1,
    len(HYDROGEN_COUNTS) + 1,
    len(HYBRIDISATIONS) + 1,
    2,
    len(CHIRAL_TAGS) + 1,
)
#: Categories per bond feature: type (with "other" and then the self-loop), conjugated, in a
#: ring, stereo (with "other").
BOND_VOCABULARY = (len(BOND_TYPES) + 2, 2, 2, len(BOND_STEREO) + 1)
#: A self-loop's bond features, as Hu et al. give theirs: a bond type of its own, the rest 0.
SELF_LOOP = (len(BOND_TYPES) + 1, 0, 0, 0)
#: Molecules per forward pass in ``predict``: about 3,000 atoms, whose hidden states stay in
#: the CPU's cache (on one core, 1,024 molecules at a time is twice as slow).
CHUNK = 128


def _positions(choices: Sequence[object]) -> dict[object, int]:
    return {choice: index for index, choice in enumerate(choices)}


# Dictionaries: a tuple's ``index`` compares RDKit's enums one by one, several times slower.
_ELEMENT = _positions(ELEMENTS)
_DEGREE = _positions(DEGREES)
_CHARGE = _positions(FORMAL_CHARGES)
_HYDROGENS = _positions(HYDROGEN_COUNTS)
_HYBRIDISATION = _positions(HYBRIDISATIONS)
_CHIRALITY = _positions(CHIRAL_TAGS)
_BOND_TYPE = _positions(BOND_TYPES)
_STEREO = _positions(BOND_STEREO)


def _bucket(value: object, positions: dict[object, int]) -> int:
    """The index of ``value`` among the choices, else the "other" bucket after them."""
    return positions.get(value, len(positions))


def _atom_features(atom: Chem.Atom) -> tuple[int, ...]:
    return (
        _bucket(atom.GetSymbol(), _ELEMENT),
        _bucket(atom.GetDegree(), _DEGREE),
        _bucket(atom.GetFormalCharge(), _CHARGE),
        _bucket(atom.GetTotalNumHs(), _HYDROGENS),
        _bucket(atom.GetHybridization(), _HYBRIDISATION),
        int(atom.GetIsAromatic()),
        _bucket(atom.GetChiralTag(), _CHIRALITY),
    )


def _bond_features(bond: Chem.Bond) -> tuple[int, ...]:
    return (
        _bucket(bond.GetBondType(), _BOND_TYPE),
        int(bond.GetIsConjugated()),
        int(bond.IsInRing()),
        _bucket(bond.GetStereo(), _STEREO),
    )


@dataclass(frozen=True)
class MoleculeGraph:
    """One molecule as category indices: ``atoms`` (n_atoms, 7); ``edges`` (2, n_directed)
    source and target atoms, each bond both ways; ``bonds`` (n_directed, 4)."""

    atoms: np.ndarray
    edges: np.ndarray
    bonds: np.ndarray


def molecule_graph(smiles: str) -> MoleculeGraph | None:
    """The molecule's graph, or None where RDKit cannot read the SMILES (or it has no atoms)."""
    with BlockLogs():  # a few of Tox21's SMILES draw valence errors on stderr
        molecule = Chem.MolFromSmiles(smiles)
    if molecule is None or molecule.GetNumAtoms() == 0:
        return None
    atoms = [_atom_features(atom) for atom in molecule.GetAtoms()]
    pairs: list[tuple[int, int]] = []
    bonds: list[tuple[int, ...]] = []
    for bond in molecule.GetBonds():
        begin, end = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        pairs += [(begin, end), (end, begin)]
        bonds += [_bond_features(bond)] * 2
    return MoleculeGraph(
        atoms=np.asarray(atoms, dtype=np.int64),
        edges=np.asarray(pairs, dtype=np.int64).reshape(-1, 2).T.copy(),
        bonds=np.asarray(bonds, dtype=np.int64).reshape(-1, len(BOND_VOCABULARY)),
    )


@dataclass(frozen=True)
class GraphBatch:
    """Several molecules as one disjoint graph; ``molecule`` is each atom's molecule."""

    atoms: torch.Tensor
    edges: torch.Tensor
    bonds: torch.Tensor
    molecule: torch.Tensor
    n_molecules: int


def collate(graphs: Sequence[MoleculeGraph], run_on: torch.device) -> GraphBatch:
    """Join molecules into one graph, shifting each one's atom numbers past the previous."""
    sizes = np.asarray([len(graph.atoms) for graph in graphs], dtype=np.int64)
    offsets = np.cumsum(sizes) - sizes
    edges = np.concatenate(
        [graph.edges + offset for graph, offset in zip(graphs, offsets, strict=True)], axis=1
    )
    return GraphBatch(
        atoms=torch.as_tensor(np.concatenate([graph.atoms for graph in graphs]), device=run_on),
        edges=torch.as_tensor(edges, device=run_on),
        bonds=torch.as_tensor(np.concatenate([graph.bonds for graph in graphs]), device=run_on),
        molecule=torch.as_tensor(np.repeat(np.arange(len(graphs)), sizes), device=run_on),
        n_molecules=len(graphs),
    )


def one_hot(categories: torch.Tensor, vocabulary: Sequence[int]) -> torch.Tensor:
    """(n, n_features) category indices as (n, sum(vocabulary)) concatenated one-hots."""
    offsets = torch.tensor((0, *itertools.accumulate(vocabulary))[:-1], device=categories.device)
    encoded = torch.zeros(len(categories), sum(vocabulary), device=categories.device)
    return encoded.scatter_(1, categories + offsets, 1.0)


class CategoricalEmbedding(nn.Module):
    """One embedding per categorical feature, summed (Hu et al.'s atom and bond embeddings).

    Written as the one-hots times a weight matrix, which is the same sum: on a CPU the
    matrix product and its gradient are faster than an embedding lookup's (whose backward
    pass took a sixth of a training step)."""

    def __init__(self, vocabulary: Sequence[int], dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(sum(vocabulary), dim))
        nn.init.xavier_uniform_(self.weight)  # as Hu et al.'s: unit normal rows sum too big

    def forward(self, encoded: torch.Tensor) -> torch.Tensor:
        return encoded @ self.weight


class GINLayer(nn.Module):
    """Hu et al.'s GINConv: sum of (neighbour state + bond embedding), an MLP, batch norm."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.bond_embedding = CategoricalEmbedding(BOND_VOCABULARY, hidden)
        self.mlp = nn.Sequential(
            nn.Linear(hidden, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, hidden)
        )
        self.norm = nn.BatchNorm1d(hidden)

    def forward(
        self, states: torch.Tensor, source: torch.Tensor, target: torch.Tensor, bonds: torch.Tensor
    ) -> torch.Tensor:
        """``bonds`` is the one-hot bond features of each directed edge and self-loop."""
        messages = states[source] + self.bond_embedding(bonds)
        summed = torch.zeros_like(states).index_add_(0, target, messages)
        return self.norm(self.mlp(summed))


class ToxGIN(nn.Module):
    """Atom embedding, ``n_layers`` GIN layers, mean pooling and a linear head: one logit per
    assay.  ``architecture`` and ``prevalence`` are buffers, so they travel in the weights."""

    def __init__(self, n_layers: int = 4, hidden: int = 128, dropout: float = 0.1) -> None:
        super().__init__()
        self.register_buffer("architecture", torch.tensor([n_layers, hidden]))
        self.register_buffer("prevalence", torch.full((len(ASSAYS),), 0.5, dtype=torch.float64))
        self.atom_embedding = CategoricalEmbedding(ATOM_VOCABULARY, hidden)
        self.layers = nn.ModuleList(GINLayer(hidden) for _ in range(n_layers))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, len(ASSAYS))

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        n_atoms = len(batch.atoms)
        loops = torch.arange(n_atoms, device=batch.atoms.device)
        source = torch.cat([batch.edges[0], loops])
        target = torch.cat([batch.edges[1], loops])
        self_loops = torch.tensor(SELF_LOOP, device=batch.bonds.device).expand(n_atoms, -1)
        bonds = one_hot(torch.cat([batch.bonds, self_loops]), BOND_VOCABULARY)
        states = self.atom_embedding(one_hot(batch.atoms, ATOM_VOCABULARY))
        for index, layer in enumerate(self.layers):
            states = layer(states, source, target, bonds)
            if index < len(self.layers) - 1:  # Hu et al.: no ReLU after the last layer
                states = torch.relu(states)
            states = self.dropout(states)
        pooled = torch.zeros(
            batch.n_molecules, states.shape[1], dtype=states.dtype, device=states.device
        ).index_add_(0, batch.molecule, states)
        counts = torch.bincount(batch.molecule, minlength=batch.n_molecules).clamp_min(1)
        return self.head(pooled / counts.unsqueeze(1).to(states.dtype))


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(artifacts_dir: str) -> ToxGIN:
    state = torch.load(Path(artifacts_dir) / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    n_layers, hidden = (int(size) for size in state["architecture"].tolist())
    model = ToxGIN(n_layers=n_layers, hidden=hidden)
    model.load_state_dict(state)
    return model.to(device()).eval()


@torch.no_grad()
def probabilities(model: ToxGIN, graphs: Sequence[MoleculeGraph | None]) -> np.ndarray:
    """(n, 12) probabilities for featurised molecules; the prevalence where a graph is None."""
    model.eval()
    result = np.tile(model.prevalence.cpu().numpy().astype(np.float64), (len(graphs), 1))
    readable = [(index, graph) for index, graph in enumerate(graphs) if graph is not None]
    run_on = next(model.parameters()).device
    for start in range(0, len(readable), CHUNK):
        chunk = readable[start : start + CHUNK]
        logits = model(collate([graph for _, graph in chunk], run_on))
        result[[index for index, _ in chunk]] = torch.sigmoid(logits.double()).cpu().numpy()
    return result


def predict(model: ToxGIN, inputs: np.ndarray) -> np.ndarray:
    graphs = [molecule_graph(str(smiles)) for smiles in np.asarray(inputs).reshape(-1).tolist()]
    return probabilities(model, graphs)
