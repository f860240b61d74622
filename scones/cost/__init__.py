"""`scones cost`: what the configured deployment costs, read from its synthesized templates.

    definition   walk a state machine definition: outcome paths, states and retries per path
    inventory    read the templates into plain data (functions, endpoint, buckets, alarms...)
    prices       the pinned, dated table of public prices per region (data/prices.json)
    measurements the committed, dated local measurement (data/measurements.json) and its reader
    usage        per-image usage (requests, GB-seconds, bytes) from the inventory and the measurement
    model        usage x prices -> monthly line items, totals, cost per million images, levers
    report       text and JSON rendering
    cli          `scones cost [--images-per-day N] [--region R] [--json]`
    measure      `python -m scones.cost.measure`: runs the local workflow and writes a measurement

Everything but `cli` and `measure` is pure (no synthesis, no AWS, no network), so the arithmetic is
tested on small hand-computed cases.
"""
