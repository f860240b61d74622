"""config_batch (and the two bucket prefixes the batch reads and writes): defaults, string overrides,
and every bad value refused naming its key and what is allowed."""
import pytest

from stacks.config import ConfigurationError, SconesConfig


def test_batch_defaults():
    config = SconesConfig()
    batch = config.batch
    assert (batch.max_concurrency, batch.tolerated_failure_percentage, batch.timeout_hours, batch.log_level,
            batch.summary_memory_mb) == (10, 5.0, 24, "ERROR", 512)
    assert (config.bucket.backlog_prefix, config.bucket.batch_results_prefix) == ("backlog/", "batch-results/")
    assert config.bucket.batch_source_prefixes == ("incoming/", "backlog/")


def test_batch_knobs_take_strings_as_cdk_context_gives_them():
    config = SconesConfig.from_mapping({"batch_max_concurrency": "500", "batch_tolerated_failure_percentage": "0",
                                        "batch_log_level": "ALL", "backlog_prefix": "fleet-import/"})
    assert (config.batch.max_concurrency, config.batch.tolerated_failure_percentage) == (500, 0.0)
    assert config.batch.log_level == "ALL" and config.bucket.batch_source_prefixes == ("incoming/", "fleet-import/")


@pytest.mark.parametrize("key, value, allowed", [
    ("batch_max_concurrency", 0, "1..10000"),
    ("batch_max_concurrency", 10_001, "10,000 child executions"),
    ("batch_max_concurrency", "many", "expected int"),
    ("batch_tolerated_failure_percentage", -1, "0.0..100.0"),
    ("batch_tolerated_failure_percentage", 100.5, "percent of the objects"),
    ("batch_timeout_hours", 0, "1..720"),
    ("batch_log_level", "DEBUG", "('ALL', 'ERROR')"),
    ("batch_summary_memory_mb", 64, "128..10240"),
    ("backlog_prefix", "backlog", "ending in '/'"),
    ("backlog_prefix", "incoming/backlog/", "does not overlap 'incoming_prefix'"),  # it would start the upload workflow
    ("batch_results_prefix", "quarantine/results/", "does not overlap 'quarantine_prefix'"),
])
def test_bad_batch_values_are_refused_by_name(key, value, allowed):
    with pytest.raises(ConfigurationError) as err:
        SconesConfig.from_mapping({key: value})
    assert key in str(err.value) and allowed in str(err.value)
