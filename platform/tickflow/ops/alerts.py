"""Run alerts that reach people: what to say, when to say it, and the webhook post.

Pure functions plus one HTTP post; the Dagster sensors (sensors/alerts.py) hold no logic.

- Body: Slack's incoming-webhook JSON (``text`` plus one attachment whose ``fields`` carry
  the run id, job, partition, failed step, first line of the error and the run's UI link).
  Any HTTP endpoint that accepts JSON works; the same fields sit under ``tickflow``.
- Dedup and cooldown (:func:`decide`): the first failure of a (job, partition) alerts; later
  failures of the same key alert again only once ``cooldown_s`` has passed since the last
  alert sent; the first success after alerted failures sends one recovery alert and clears
  the key. A post that did not get through does not count as sent, so the next failure of
  the key tries again.
- A webhook that is down or hangs costs at most ``timeout_s`` and is logged; it never raises.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Alert:
    kind: str  # "failure" or "recovery"
    job: str  # the job's name; for runs of asset selections the selection's name (derived, predictions, ...)
    partition: str  # "-" when the run has none
    run_id: str
    step: str = ""
    error: str = ""
    url: str = ""  # the run in the Dagster UI
    suppressed: int = 0  # failures of this key not alerted since the last alert (cooldown)
    failures: int = 0  # recovery: failed runs of this key since it started failing

    def line(self) -> str:
        if self.kind == "recovery":
            return (f"RECOVERED {self.job} (partition {self.partition}) run {self.run_id} succeeded after "
                    f"{self.failures} failed run(s) {self.url}")
        more = f" [{self.suppressed} more failure(s) since the last alert]" if self.suppressed else ""
        return (f"ALERT {self.job} run {self.run_id} (partition {self.partition}) failed: "
                f"{self.step}: {self.error}{more} {self.url}")


@dataclass(frozen=True)
class KeyState:
    """What was sent for one (job, partition); stored as JSON between sensor ticks."""
    failing: bool = False
    last_sent: float = 0.0  # unix time of the last alert that got through; 0: none
    suppressed: int = 0
    alerted: int = 0  # failure alerts delivered since the key started failing
    failures: int = 0  # failed runs since the key started failing

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_json(raw: str | None) -> KeyState:
        return KeyState(**json.loads(raw)) if raw else KeyState()


def first_line(text: str) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()[:500]
    return ""


def decide(state: KeyState, succeeded: bool, now: float, cooldown_s: float) -> tuple[str | None, KeyState]:
    """What to send for a run of a key in ``state``: ``"failure"``, ``"recovery"`` or None, and
    the state to keep if the post gets through (see :func:`after_post`)."""
    if succeeded:
        if state.failing and state.alerted:
            return "recovery", KeyState()
        return None, KeyState()
    if state.last_sent and now - state.last_sent < cooldown_s:
        return None, replace(state, failing=True, suppressed=state.suppressed + 1, failures=state.failures + 1)
    return "failure", KeyState(failing=True, last_sent=now, suppressed=0, alerted=state.alerted + 1,
                               failures=state.failures + 1)


def after_post(old: KeyState, kind: str | None, new: KeyState, delivered: bool) -> KeyState:
    """The state to store: ``new`` if the alert got through (or none was due); otherwise the
    failure is remembered unsent, so the next failure of the key alerts again."""
    if kind is None or delivered:
        return new
    if kind == "recovery":
        return KeyState()  # the key recovered; a lost recovery note is not retried
    return replace(old, failing=True, suppressed=old.suppressed + 1, failures=old.failures + 1)


def slack_body(alert: Alert) -> dict[str, object]:
    colour = "#2eb886" if alert.kind == "recovery" else "#d40e0d"
    fields = [("job", alert.job), ("partition", alert.partition), ("run id", alert.run_id)]
    if alert.kind == "failure":
        fields += [("failed step", alert.step), ("error", alert.error)]
    if alert.kind == "recovery":
        fields.append(("failed runs", str(alert.failures)))
    if alert.suppressed:
        fields.append(("failures not alerted (cooldown)", str(alert.suppressed)))
    return {
        "text": alert.line(),
        "attachments": [{
            "color": colour,
            "title": f"{alert.job} {alert.partition}: {'recovered' if alert.kind == 'recovery' else 'run failed'}",
            "title_link": alert.url,
            "fields": [{"title": k, "value": v, "short": len(v) < 40} for k, v in fields],
        }],
        "tickflow": asdict(alert),
    }


def post(url: str, body: dict[str, object], timeout_s: float) -> str | None:
    """POST ``body`` as JSON; None when it got a 2xx answer, else why not (never raises)."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 (URL from settings)
            if 200 <= resp.status < 300:
                return None
            return f"HTTP {resp.status}"
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code} {e.reason}"
    except (urllib.error.URLError, OSError, ValueError) as e:  # refused, DNS, timeout, bad URL
        reason = getattr(e, "reason", e)
        return f"{type(e).__name__}: {reason}"
