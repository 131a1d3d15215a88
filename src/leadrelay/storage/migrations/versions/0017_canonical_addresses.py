"""canonical addresses: stored e-mail identities, leads' addresses and company domains in the form ingest gives

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-10

Written by hand; data only. Since issue 13, ingest stores an e-mail address in one canonical form
(`leadrelay.core.addresses.canonical_email`: NFC, no invisible characters, no `mailto:` or `<...>`, the
domain in IDNA ASCII) and company domains in IDNA ASCII. Addresses stored before in another form would
never be matched again: the next message writes the address canonically and finds no one. This rewrites
them. An identity whose canonical form another identity already holds is left as it is: those are two
leads, and merging leads is the engine's work (with its history and handoffs), not a migration's; the
count is logged. A value that is not an address at all is left as it is too. Nothing to undo.
"""
import logging

import sqlalchemy as sa
from alembic import op

from leadrelay.core.addresses import ascii_domain, normalise_email

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

identities = sa.table('identities', sa.column('kind', sa.String), sa.column('value', sa.String))
leads = sa.table('leads', sa.column('id', sa.BigInteger), sa.column('email', sa.String),
                 sa.column('company_domain', sa.String))
accounts = sa.table('accounts', sa.column('id', sa.BigInteger), sa.column('domain', sa.String))


def _domain(value: str) -> str | None:
    try:
        return ascii_domain(value.lower())
    except ValueError:
        return None


def upgrade() -> None:
    conn = op.get_bind()
    email = identities.c.kind == 'email'
    stored = set(conn.execute(sa.select(identities.c.value).where(email)).scalars())
    rewritten, kept = 0, set()
    for value in sorted(stored):
        canonical = normalise_email(value)
        if canonical is None or canonical == value:
            continue
        if canonical in stored:
            kept.add(value)
            continue
        conn.execute(sa.update(identities).where(email, identities.c.value == value).values(value=canonical))
        stored.add(canonical)
        rewritten += 1
    if rewritten or kept:
        log.info("e-mail identities: %d rewritten in canonical form, %d left as they were (another lead holds "
                 "the canonical form)", rewritten, len(kept))
    for lead_id, address, domain in conn.execute(sa.select(leads.c.id, leads.c.email, leads.c.company_domain)
                                                 .where(sa.or_(leads.c.email.is_not(None),
                                                               leads.c.company_domain.is_not(None)))).all():
        changes = {}
        if address not in kept and address is not None \
                and (canonical := normalise_email(address)) not in (None, address):
            changes['email'] = canonical
        if domain is not None and (ascii_form := _domain(domain)) not in (None, domain):
            changes['company_domain'] = ascii_form
        if changes:
            conn.execute(sa.update(leads).where(leads.c.id == lead_id).values(**changes))
    for account_id, domain in conn.execute(sa.select(accounts.c.id, accounts.c.domain)
                                           .where(accounts.c.domain.is_not(None))).all():
        if (ascii_form := _domain(domain)) not in (None, domain):
            conn.execute(sa.update(accounts).where(accounts.c.id == account_id).values(domain=ascii_form))


def downgrade() -> None:
    pass  # the old forms are not kept: the canonical ones match everything the old ones did
