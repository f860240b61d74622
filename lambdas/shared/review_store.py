"""The review table (`scones_contracts.review` describes an item), as the review functions use it.

Every status change is a conditional write, so DynamoDB itself decides races: an item goes from
`pending` to `decided` or `expired` exactly once (two reviewers deciding at once: one wins, the
other gets `NotPending`). Items go in and come out as plain Python values: numbers are stored as
DynamoDB numbers and read back as int/float, None as NULL.

`ReviewStore(table_name, client)` takes the boto3 DynamoDB client (`aws_clients.client("dynamodb")`
in the functions); nothing here creates one.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from scones_contracts.review import STATUS_DECIDED, STATUS_EXPIRED, STATUS_INDEX, STATUS_PENDING

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class ReviewNotFound(LookupError):
    """No review item has this id."""


class NotPending(RuntimeError):
    """The review is no longer pending (decided or expired): the conditional write lost."""

    def __init__(self, review_id: str, status: str | None) -> None:
        super().__init__(f"review {review_id} is {status or 'not pending'}")
        self.review_id = review_id
        self.status = status


def to_attribute(value: Any) -> dict[str, Any]:
    """A plain value as a DynamoDB attribute (floats become exact decimals of their repr)."""
    return _serializer.serialize(_decimals(value))


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {name: to_attribute(value) for name, value in values.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain values (numbers as int when whole, else float)."""
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def _decimals(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_decimals(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, set)):
        return [_plain(v) for v in value]
    return value


class ReviewStore:
    """Conditional reads and writes of review items in one table."""

    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self.client = client

    def _conditional(self, call, review_id: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return call(TableName=self.table_name, **kwargs)
        except self.client.exceptions.ConditionalCheckFailedException as failed:
            current = from_item(failed.response.get("Item") or {})
            if not current:
                raise ReviewNotFound(review_id) from None
            raise NotPending(review_id, current.get("status")) from None

    def open(self, item: dict[str, Any]) -> bool:
        """Write a pending item. A retried intake (same id, new task token) rewrites a pending item;
        an item already decided or expired is left alone (returns False)."""
        try:
            self.client.put_item(
                TableName=self.table_name, Item=to_item(item),
                ConditionExpression="attribute_not_exists(id) OR #status = :pending",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":pending": to_attribute(STATUS_PENDING)},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, review_id: str) -> dict[str, Any]:
        found = self.client.get_item(TableName=self.table_name, Key={"id": to_attribute(review_id)},
                                     ConsistentRead=True).get("Item")
        if not found:
            raise ReviewNotFound(review_id)
        return from_item(found)

    def decide(self, review_id: str, *, label: str, note: str, reviewer: str, decided_at: str) -> dict[str, Any]:
        """pending -> decided (raises ReviewNotFound / NotPending); returns the whole item as it now is."""
        response = self._conditional(
            self.client.update_item, review_id,
            Key={"id": to_attribute(review_id)},
            UpdateExpression="SET #status = :decided, decided_label = :label, decided_note = :note, "
                             "decided_by = :reviewer, decided_at = :at",
            ConditionExpression="attribute_exists(id) AND #status = :pending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=to_item({":decided": STATUS_DECIDED, ":pending": STATUS_PENDING,
                                               ":label": label, ":note": note, ":reviewer": reviewer,
                                               ":at": decided_at}),
            ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return from_item(response["Attributes"])

    def undo_decision(self, review_id: str, decided_at: str, status: str) -> bool:
        """Our decision (still `decided` at `decided_at`) becomes `status` again: `pending` when the
        workflow could not be told (try again), `expired` when it stopped waiting. False if it moved on."""
        # An expired review also loses its token (as expire_review does): nothing can resume it any more.
        removed = "decided_label, decided_note, decided_by, decided_at" + (", task_token" if status == STATUS_EXPIRED else "")
        try:
            self.client.update_item(
                TableName=self.table_name, Key={"id": to_attribute(review_id)},
                UpdateExpression=f"SET #status = :status REMOVE {removed}",
                ConditionExpression="#status = :decided AND decided_at = :at",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_item({":status": status, ":decided": STATUS_DECIDED, ":at": decided_at}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def expire(self, review_id: str, expired_at: str) -> dict[str, Any]:
        """pending -> expired, the task token removed (raises ReviewNotFound / NotPending)."""
        response = self._conditional(
            self.client.update_item, review_id,
            Key={"id": to_attribute(review_id)},
            UpdateExpression="SET #status = :expired, expired_at = :at REMOVE task_token",
            ConditionExpression="attribute_exists(id) AND #status = :pending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=to_item({":expired": STATUS_EXPIRED, ":pending": STATUS_PENDING,
                                               ":at": expired_at}),
            ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return from_item(response["Attributes"])

    def pending(self, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Up to `limit` pending items, oldest first (from the status index), and how many are pending."""
        query = {"TableName": self.table_name, "IndexName": STATUS_INDEX,
                 "KeyConditionExpression": "#status = :pending",
                 "ExpressionAttributeNames": {"#status": "status"},
                 "ExpressionAttributeValues": {":pending": to_attribute(STATUS_PENDING)}}
        items = self.client.query(**query, ScanIndexForward=True, Limit=limit).get("Items", [])
        count, start = 0, None
        while True:
            page = self.client.query(**query, Select="COUNT", **({"ExclusiveStartKey": start} if start else {}))
            count += page.get("Count", 0)
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        return [from_item(item) for item in items], count
