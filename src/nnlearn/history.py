"""What a training run records: the loss of every iteration and the figures of every evaluation."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field

from ._files import write_text_atomic


@dataclass
class History:
    """What a run recorded.  ``loss`` has one entry per iteration (the mini-batch's loss at its forward
    pass); the per-epoch lists line up with ``epoch_iteration``."""
    loss: list = field(default_factory=list)
    epoch: list = field(default_factory=list)
    epoch_iteration: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    test_acc: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    elapsed: list = field(default_factory=list)
    iters: int = 0
    iter_per_epoch: int = 0

    EPOCH_FIELDS = ("epoch", "epoch_iteration", "train_loss", "train_acc", "test_loss", "test_acc", "elapsed")

    @property
    def train_acc_list(self):
        """The book's name."""
        return self.train_acc

    @property
    def test_acc_list(self):
        return self.test_acc

    @property
    def train_loss_list(self):
        return self.loss

    def not_learning(self, classes: int) -> str | None:
        """Why the run looks like it learned nothing, or None.

        After at least one epoch, a training loss still at or above ln K (what guessing uniformly among K
        classes scores) together with an accuracy at chance (at most 1.5 / K) means the weights did not move
        anywhere useful: almost always a learning rate far too large (saturated units) or too small.
        """
        if not self.train_loss or self.epoch_iteration[-1] < max(self.iter_per_epoch, 1) or classes < 2:
            return None
        loss, acc = self.train_loss[-1], self.train_acc[-1]
        if loss >= math.log(classes) - 1e-3 and acc <= 1.5 / classes:
            return (f"the network did not learn: after {self.epoch_iteration[-1]:,} iterations the training loss "
                    f"is {loss:.4f} (≥ ln {classes} = {math.log(classes):.4f}, chance level) and the accuracy "
                    f"{acc:.4f} (chance is {1 / classes:.2f})")
        return None
    def __repr__(self) -> str:
        from .display import history_repr

        return history_repr(self)

    def _repr_html_(self) -> str:
        from .display import history_html

        return history_html(self)

    def plot(self):
        """The loss of every iteration and the accuracy per epoch, as one figure (shows itself in a notebook)."""
        from .plots import history_figure

        return history_figure(self)

    def records(self) -> list[dict]:
        return [{f: getattr(self, f)[i] for f in self.EPOCH_FIELDS} for i in range(len(self.epoch))]

    def append(self, record: dict) -> None:
        for f in self.EPOCH_FIELDS:
            getattr(self, f).append(record[f])

    def to_dict(self) -> dict:
        return {"iters": self.iters, "iter_per_epoch": self.iter_per_epoch, "loss": list(self.loss),
                **{f: list(getattr(self, f)) for f in self.EPOCH_FIELDS}}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        return cls(**{k: d[k] for k in ("loss", "iters", "iter_per_epoch", *cls.EPOCH_FIELDS)})

    def to_json(self, path=None) -> str:
        text = json.dumps(self.to_dict(), allow_nan=True)
        if path is not None:
            write_text_atomic(path, text)
        return text

    def to_csv(self, path=None) -> str:
        """One row per epoch."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.EPOCH_FIELDS)
        for record in self.records():
            writer.writerow(record[f] for f in self.EPOCH_FIELDS)
        if path is not None:
            write_text_atomic(path, buf.getvalue())
        return buf.getvalue()
