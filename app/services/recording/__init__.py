"""Time entered by people, every way ending in the ledger (`service_records`) with its `source`.

- `bulk`: a captain or organiser enters an activity's attendance as a table, or uploads the paper
  sign-in sheet (`sheets` reads it) for a preview with each row's result, then commits the preview.
- `declarations`: a volunteer declares their time at an activity; its captain or organiser confirms
  (the record is written then) or refuses with a reason.
- `retroactive`: 补录 of service held outside the system, within `[records] retroactive_days`; an
  admin of the region above the organisation approves, never the one who entered it.
- `evidence`: an activity's gallery: its report's photos, confirmed declarations' photos, an
  approved 补录's evidence.

The first three credit through `ledger.credit`, which keeps the two limits under concurrency: a
volunteer's minutes on one activity never exceed its duration plus both margins
(`minutes_exceed_activity`), and one person is never credited in two places at overlapping times
(`overlapping_service`). A scanned check-out credits through `ledger.credit_checkin` under the same
two rules and the same lock (taken inside the UPDATE that closes the check-in); so do a forgotten
check-out closed by the job and a held one confirmed later (refused ones stay held for review).
"""
