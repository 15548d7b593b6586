"""User ratings: check the request, blend the rating, publish a reward event.

A rating reaches the learner only if it is for one of the caller's own
requests, is the first one for that request and arrives within the reward
window. Otherwise the client is told why, with a distinct status:

- 404: no such request, or another account's (indistinguishable on purpose);
- 409: the request was already rated;
- 410: the window has passed. The late rating is still published, marked
  ``late``, so it is recorded; the learner does not learn from it.

Decisions stay in the store for a grace period after the window (see
``Store.put_decision``), which is what tells 410 from 404.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from bandit import rewards
from service.errors import AlreadyRated, FeedbackExpired, NotFound
from service.insights import Insights
from service.metrics import Metrics
from service.schemas import FeedbackRequest
from service.store.base import RewardEvent, Store
from service.writebehind import RequestLog

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FeedbackService:
    """Turns a rating into a ``rating`` reward event. One per app."""

    store: Store
    insights: Insights
    metrics: Metrics
    reward_window_s: float
    log: RequestLog | None = None

    async def rate(self, account: str, body: FeedbackRequest) -> dict[str, Any]:
        """Accept one rating from ``account``; raise 404/409/410 errors as documented."""
        record = await self.store.get_decision(body.request_id)
        if record is None and self.log is not None:
            # The answer may have left before its decision was written (write-behind).
            await self.log.flush()
            record = await self.store.get_decision(body.request_id)
        if record is None or record.account != account:
            raise NotFound(f"no request {body.request_id} for this account")
        now = time.time()
        auto = record.auto_signal
        value = rewards.blend_rating(auto, body.score, body.is_helpful)
        late = now - record.created_at > self.reward_window_s
        if not await self.store.mark_rated(body.request_id, self.reward_window_s):
            raise AlreadyRated(f"request {body.request_id} was already rated")
        event = RewardEvent(
            event_id=f"{body.request_id}:rating",
            request_id=body.request_id,
            account=account,
            kind="rating",
            value=value,
            model=record.chosen,
            created_at=now,
            payload={"score": body.score, "is_helpful": body.is_helpful, "late": late},
        )
        await self.store.publish_reward(event)
        self.metrics.reward_accepted("rating")
        if late:
            raise FeedbackExpired(
                "the feedback window for this request has passed; the rating is recorded "
                "but not learned",
                details={"request_id": body.request_id, "window_s": self.reward_window_s},
            )
        query_type = str(record.features.get("query_type", "conversation"))
        try:
            await self.insights.rated(account, query_type, record.chosen, value - (auto or 0.0))
        except Exception:  # the rating is already published; a 5xx would invite a 409 retry
            logger.exception("could not update insights for a rating")
        return {"request_id": body.request_id, "accepted": True, "reward": value}
