"""Data protection: erase a person on request, export everything held about them, and retention.

- `erase.erase` removes a person's personal data and leaves a tombstone (`erasures`) whose
  keyed digests make intake refuse later messages about them (`gate`), until they opt in.
- `export.export_person` gathers everything held about a person as one JSON document.
- `retention.apply_retention` trims old raw context from activities and drops old
  rejected messages, as the settings say; the worker runs it.

The README's "Security and data protection" section is the user's account of all three.
"""
