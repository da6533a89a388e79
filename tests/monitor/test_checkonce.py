"""`vigie check` exit codes and table (the pieces that need no network)."""

import pytest

from monitor.checkonce import worst_exit_code
from monitor.probe import Status


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ([], 0),
        ([Status.UP, Status.UP], 0),
        ([Status.UP, Status.MAINTENANCE], 0),
        ([Status.UP, Status.DEGRADED], 1),
        ([Status.DEGRADED, Status.UNKNOWN], 3),
        ([Status.UNKNOWN, Status.DOWN, Status.DEGRADED], 2),
        ([Status.DOWN], 2),
    ],
)
def test_worst_exit_code_follows_monitoring_plugins(statuses, code):
    assert worst_exit_code(statuses) == code
