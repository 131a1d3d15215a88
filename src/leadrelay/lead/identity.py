"""Identity resolution: anonymous ids, user ids and emails resolve to one lead.

When one message names identities that belong to two leads (an anonymous visitor
identifying as a known person, or an `alias` call), the leads merge: the survivor keeps
both histories. This module decides; storage applies the decisions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from leadrelay.lead.activities import Activity
from leadrelay.lead.model import Lead

IdentityKey = tuple[str, str]  # (kind, value): kind is anonymous | user | email
KINDS = ("anonymous", "user", "email")


def identity_keys(activity: Activity) -> list[IdentityKey]:
    """The identities one message names (an alias's previousId is handled by the caller)."""
    keys = []
    if activity.anonymous_id:
        keys.append(("anonymous", activity.anonymous_id))
    if activity.user_id:
        keys.append(("user", activity.user_id))
    if activity.email:
        keys.append(("email", activity.email))
    return keys


@dataclass(slots=True)
class Merge:
    loser: Lead
    survivor: Lead


@dataclass
class IdentityGraph:
    """Identities known so far (loaded from storage for one batch), updated as messages resolve."""

    owners: dict[IdentityKey, Lead]
    new_keys: dict[IdentityKey, Lead] = field(default_factory=dict)
    new_leads: list[Lead] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
    _redirect: dict[int, Lead] = field(default_factory=dict)  # id(loser) -> survivor

    def keys_to_store(self) -> dict[IdentityKey, Lead]:
        """New identities, each pointing at the lead that holds it after every merge in the batch."""
        return {key: self.lead_for(lead) for key, lead in self.new_keys.items()}

    def lead_for(self, lead: Lead) -> Lead:
        """Follow merges to the lead that now holds this one's history."""
        while id(lead) in self._redirect:
            lead = self._redirect[id(lead)]
        return lead

    def resolve(self, activity: Activity) -> Lead:
        """The lead a message belongs to; creates or merges leads as the identities require."""
        keys = identity_keys(activity)
        if activity.type == "alias" and activity.previous_id:
            previous = self._find(("user", activity.previous_id)) or self._find(("anonymous", activity.previous_id))
            if previous is None:
                keys.append(("anonymous", activity.previous_id))
            else:
                keys.append(next(k for k in (("user", activity.previous_id), ("anonymous", activity.previous_id))
                                 if self._find(k) is previous))
        leads = _distinct(self._find(k) for k in keys)
        if not leads:
            lead = Lead()
            self.new_leads.append(lead)
        else:
            lead = leads[0]
            for other in leads[1:]:
                lead = self._merge(lead, other)
        for key in keys:
            if self._find(key) is not lead:
                self.owners[key] = lead
                self.new_keys[key] = lead
        return lead

    def _find(self, key: IdentityKey) -> Lead | None:
        lead = self.owners.get(key)
        return self.lead_for(lead) if lead is not None else None

    def _merge(self, a: Lead, b: Lead) -> Lead:
        survivor, loser = (a, b) if _survivor_rank(a) <= _survivor_rank(b) else (b, a)
        self._redirect[id(loser)] = survivor
        if loser.id is None:
            self.new_leads = [lead for lead in self.new_leads if lead is not loser]
        else:
            self.merges.append(Merge(loser, survivor))
        return survivor


def _survivor_rank(lead: Lead) -> tuple:
    # Keep the lead sales may already know: known before anonymous, further in the funnel,
    # then the oldest stored one.
    return (
        not lead.known,
        -(lead.stage.rank if lead.stage else -2),
        lead.id is None,
        lead.id or 0,
    )


def _distinct(leads: Iterable[Lead | None]) -> list[Lead]:
    seen: list[Lead] = []
    for lead in leads:
        if lead is not None and all(lead is not s for s in seen):
            seen.append(lead)
    return seen
