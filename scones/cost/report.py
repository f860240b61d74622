"""Render an estimate as a JSON document (`--json`) or as text for people.

Contract
    `as_document(...)` returns a JSON-ready dict with the fields below; `as_text(document)` renders
    that same dict, so the two never disagree.

        region, images_per_day, images_per_month, monthly_total, per_million_images,
        variable_per_million_images, by_component {component: $}, items [{component, item, quantity,
        unit, unit_price, monthly, basis}], outcomes {outcome: {share, transitions, ...}}, endpoint,
        levers [{change, monthly_total, difference, per_million_images, gives_up}], other_workflows,
        one_off, warnings, assumptions, prices {as_of, basis, sources...}, measurement {measured_on,
        what, machine, source}, inventory (what was read from the templates)
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .model import Estimate
from .usage import Assumptions


def _item(item) -> dict[str, Any]:
    return {"component": item.component, "item": item.item, "quantity": round(item.quantity, 4), "unit": item.unit,
            "unit_price": item.unit_price, "monthly": round(item.monthly, 4), "basis": item.basis}


def as_document(estimate: Estimate, levers: list[dict[str, Any]], assumptions: Assumptions,
                provenance: dict[str, Any], measurement: dict[str, Any],
                inventory: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "region": estimate.region,
        "images_per_day": estimate.images_per_day,
        "images_per_month": round(estimate.images_per_month),
        "monthly_total": round(estimate.monthly_total, 2),
        "per_million_images": round(estimate.per_million_images, 2),
        "variable_per_million_images": round(estimate.variable_per_million_images, 2),
        "by_component": {k: round(v, 2) for k, v in estimate.by_component().items()},
        "items": [_item(i) for i in sorted(estimate.items, key=lambda i: -i.monthly)],
        "outcomes": estimate.outcomes,
        "endpoint": estimate.endpoint,
        "levers": levers,
        "other_workflows": estimate.other_workflows,
        "one_off": [_item(i) for i in estimate.one_off],
        "warnings": estimate.warnings,
        "assumptions": asdict(assumptions),
        "prices": provenance,
        "measurement": measurement,
        "inventory": inventory or {},
    }


def _money(value: float) -> str:
    return f"${value:,.2f}" if abs(value) >= 0.01 or value == 0 else f"${value:,.4f}"


def as_text(doc: dict[str, Any]) -> str:
    total = doc["monthly_total"]
    lines = [
        "Monthly cost of the configured deployment, read from the synthesized templates",
        f"region {doc['region']} | prices as of {doc['prices']['as_of']} ({doc['prices']['basis']})",
        f"{doc['images_per_day']:,.0f} images a day = {doc['images_per_month']:,} a month",
        "",
        f"  {_money(total)} a month   {_money(doc['per_million_images'])} per million images "
        f"({_money(doc['variable_per_million_images'])} of it grows with volume)",
        "",
        "Where the money goes",
    ]
    for component, value in doc["by_component"].items():
        share = value / total if total else 0.0
        lines.append(f"  {component:<34} {_money(value):>12}  {share:6.1%}")
    lines += ["", "Line items (quantity per month x unit price)"]
    for item in doc["items"]:
        if item["monthly"] < 0.005:
            continue
        lines.append(f"  {item['component'][:18]:<18} {item['item'][:46]:<46} {item['quantity']:>16,.2f} "
                     f"{item['unit'][:20]:<20} {_money(item['monthly']):>11}  {item['basis']}")
    lines += ["", "Per image, from the state machine definition (each outcome priced by its costliest path; "
                  "routed: the audit sample apart)"]
    for outcome, row in doc["outcomes"].items():
        calls = ", ".join(f"{k} x{v:.4g}" for k, v in row["lambda_invocations"].items()) or "-"
        low, high = row["transitions_range"]
        lines.append(f"  {outcome:<12} share {row['share']:6.2%}  {row['transitions']:>2} transitions "
                     f"(paths: {row['paths']}, {low}..{high})  Lambda: {calls}")
        if "audited" in row:
            audited = row["audited"]
            lines.append(f"  {'':<12} of which {audited['share_of_outcome']:.2%} audited: {audited['transitions']} "
                         f"transitions (with the audit item)")
    endpoint = doc["endpoint"]
    if endpoint.get("mode") == "real-time":
        lines += ["", f"Endpoint: {endpoint['instance_type']}, {endpoint['busy_instances']} instance(s) in busy hours "
                      f"({endpoint['invocations_per_busy_minute']:,.0f} invocations/min, target "
                      f"{endpoint['target_per_instance_minute']:g} per instance), {endpoint['idle_instances']} otherwise; "
                      f"bounds {endpoint['bounds'][0]}..{endpoint['bounds'][1]}; capture {endpoint['capture_percent']} % "
                      f"= {endpoint['capture_gb_per_month']:,.2f} GB a month"]
    lines += ["", "What changes it"]
    for lever in doc["levers"]:
        lines.append(f"  {lever['change']:<58} {_money(lever['monthly_total']):>12} ({lever['difference']:+,.2f})  "
                     f"gives up: {lever['gives_up']}")
    if doc["other_workflows"]:
        lines += ["", "Other state machines (not started per upload; priced per run)"]
        for row in doc["other_workflows"]:
            text = f"  {row['state_machine']}: {row['transitions_per_run']} transitions per run ({_money(row['standard_price_per_run'])})"
            if "distributed_map" in row:
                dm = row["distributed_map"]
                per_item = (f"{dm['transitions_per_item']} states per item in an Express child (billed per request "
                            "and duration)" if dm["child_execution_type"] == "EXPRESS"
                            else f"{dm['transitions_per_item']} transitions per item")
                parts = ", ".join(f"{k} {_money(v)}" for k, v in dm.get("by_component", {}).items())
                text += (f"; Distributed Map {dm['state']!r}: {per_item}, "
                         f"{_money(dm['price_per_million_items'])} per million items"
                         + (f" ({parts}; each item priced on its costliest path, {dm['item_outcome']})" if parts else ""))
            lines.append(text)
    for item in doc["one_off"]:
        lines += ["", f"One-off: {item['component']}: {item['item']} = {_money(item['monthly'])} ({item['basis']})"]
    lines += ["", "Assumptions (neither in the templates nor measured): " +
              ", ".join(f"{k}={v}" for k, v in doc["assumptions"].items())]
    m = doc["measurement"]
    lines += [f"Measured: {m['source']} ({m['measured_on']}): {m['what']}; machine load "
              f"{m['machine'].get('load_average_1m_before')} before, {m['machine'].get('load_average_1m_after')} after "
              f"on {m['machine'].get('cpus')} CPUs"]
    lines += [f"Prices: {doc['prices']['note']}"]
    for warning in doc["warnings"]:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)
