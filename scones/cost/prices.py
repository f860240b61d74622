"""The pinned table of public AWS prices per region (data/prices.json), read without any network.

Contract
    `load_prices(path)` reads the table; `PriceTable.region(name)` returns that region's `Prices`,
    and an unknown region is an `UnknownRegionError` naming the known ones. `Prices.get(
    "service.key.sub")` returns a number and names the missing key when a figure is absent (e.g.
    an instance type the table does not list). The table carries its date (`as_of`), the basis of
    the figures and, per service, the source page and what was confirmed; `scones cost` prints them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .measurements import DATA_DIR

DEFAULT_PRICES = DATA_DIR / "prices.json"


class UnknownRegionError(ValueError):
    """The region is not in the pinned price table."""


class MissingPriceError(KeyError):
    """The pinned table has no figure for something the templates declare."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class Prices:
    region: str
    table: dict[str, Any]

    def get(self, dotted: str) -> float:
        node: Any = self.table
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                known = sorted(node) if isinstance(node, dict) else []
                raise MissingPriceError(f"no price for {dotted!r} in {self.region} in the pinned table "
                                        f"(known at {part!r}'s level: {known})")
            node = node[part]
        return float(node)

    def instance_hour(self, instance_type: str) -> float:
        hours = self.table["sagemaker"]["instance_hour"]
        if instance_type not in hours:
            raise MissingPriceError(f"no SageMaker price for instance type {instance_type!r} in {self.region}; "
                                    f"the pinned table lists {sorted(hours)}")
        return float(hours[instance_type])


@dataclass(frozen=True)
class PriceTable:
    document: dict[str, Any]

    @property
    def as_of(self) -> str:
        return self.document["as_of"]

    @property
    def regions(self) -> list[str]:
        return sorted(self.document["regions"])

    def region(self, name: str) -> Prices:
        if name not in self.document["regions"]:
            raise UnknownRegionError(f"unknown region {name!r}: the pinned price table (as of {self.as_of}) "
                                     f"knows {', '.join(self.regions)}")
        return Prices(region=name, table=self.document["regions"][name])

    def provenance(self) -> dict[str, Any]:
        """Date, basis and per-service sources, for the report."""
        return {"as_of": self.as_of, "currency": self.document["currency"], "basis": self.document["basis"],
                "note": self.document.get("confirmation_note", ""), "sources": self.document["sources"]}


def load_prices(path: Path | str = DEFAULT_PRICES) -> PriceTable:
    document = json.loads(Path(path).read_text())
    for key in ("as_of", "currency", "basis", "sources", "regions"):
        if key not in document:
            raise ValueError(f"price table {path} lacks {key!r}")
    return PriceTable(document)
