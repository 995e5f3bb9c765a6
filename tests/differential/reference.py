"""The reference implementation (PyPI agent-aegis 1.0.0), fed the same events, for side-by-side tests.

Its logger stamps rows with ``datetime.now``; each row is logged under a
clock that says the event's own time. Its dashboard reads "now" the same
way; requests run under the test's fixed now. ``lift_row_cap`` removes the
reference's 10,000-row cap of overview and timeline (DESIGN D1), so the
remaining numbers can be compared.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aegis.core.compliance as ref_compliance
import aegis.runtime.audit as ref_audit
import aegis.server.dashboard_api as ref_dashboard
from aegis.core.action import Action
from aegis.core.anomaly import AnomalyDetector
from aegis.core.policy import Approval, Policy, PolicyDecision
from aegis.core.result import Result, ResultStatus
from aegis.core.risk import RiskLevel
from starlette.applications import Starlette
from starlette.testclient import TestClient


class FrozenDatetime(datetime):
    """``datetime`` with a settable ``now`` (patched into the reference's modules)."""

    at: datetime = datetime.now(UTC)

    @classmethod
    def now(cls, tz: Any = None) -> FrozenDatetime:  # type: ignore[override]
        at = cls.at if tz is not None else cls.at.replace(tzinfo=None)
        return cls.fromtimestamp(at.timestamp(), tz) if tz is not None else cls.fromtimestamp(at.timestamp())


@contextlib.contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Run the reference with ``datetime.now`` fixed at ``at``."""
    saved = [(m, m.datetime) for m in (ref_audit, ref_dashboard, ref_compliance)]
    FrozenDatetime.at = at
    for module, _ in saved:
        module.datetime = FrozenDatetime  # type: ignore[misc]
    try:
        yield
    finally:
        for module, original in saved:
            module.datetime = original  # type: ignore[misc]


class UncappedLogger(ref_audit.AuditLogger):
    """The reference's SQLite logger, without the 10,000-row cap of overview and timeline (D1)."""

    def get_log(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        if kwargs.get("limit") == 10000:
            kwargs.pop("limit")
        return super().get_log(*args, **kwargs)


def _utc(stamp: str) -> datetime:
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def build(db: Path, policy_path: Path, events: list[dict[str, Any]]) -> TestClient:
    """A reference dashboard over ``events`` (validated dicts in stream order), with a fed detector."""
    logger = UncappedLogger(db)
    detector = AnomalyDetector()
    for e in events:
        action = Action(
            type=e["action_type"],
            target=e["action_target"],
            params=e.get("action_params") or {},
            description=e.get("action_desc") or "",
            agent_id=e.get("agent_id") or "",
            parent_agent_id=e.get("parent_agent_id") or "",
            chain_id=e.get("chain_id") or "",
            chain_depth=e.get("chain_depth") or 0,
        )
        decision = PolicyDecision(
            action=action,
            risk_level=RiskLevel[e["risk_level"].upper()],
            approval=Approval(e["approval"]),
            matched_rule=e["matched_rule"],
        )
        status = e.get("result_status")
        result = (
            Result(
                action=action,
                status=ResultStatus(status),
                data=e.get("result_data"),
                error=e.get("result_error"),
            )
            if status is not None
            else None
        )
        with frozen(_utc(e["timestamp"])):
            logger.log(e["session_id"], decision, result=result, human_decision=e.get("human_decision"))
        detector.record(action, e.get("agent_id") or "", blocked=e["approval"] == "block")
    policy = Policy.from_yaml(policy_path)
    app = Starlette(
        routes=ref_dashboard.get_dashboard_routes(
            policy=policy, audit_logger=logger, anomaly_detector=detector
        )
    )
    return TestClient(app)
