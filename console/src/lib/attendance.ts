// The attendance sheet's corrections: which service record a correction goes to.

/** A sheet line as far as a correction needs it. `record_id` comes with the sheet once the API has it
 *  (null: no record yet); older answers leave it out. */
export interface RecordedLine {
  volunteer: { id: number }
  record_id?: number | null
}

/** The answer of GET /volunteers/{id} as far as the fallback needs it. */
export interface RecentRecords {
  service: { recent: { id: number; activity_id: number }[] }
}

/**
 * The record to correct: the sheet line's own `record_id` when the answer carries the field (null means
 * the volunteer has no record yet: nothing to look up); only without the field, the volunteer's latest
 * record at this activity from their detail.
 */
export async function recordIdFor(
  line: RecordedLine,
  activityId: number,
  lookup: (volunteerId: number) => Promise<RecentRecords>,
): Promise<number | null> {
  if (line.record_id !== undefined) return line.record_id
  const detail = await lookup(line.volunteer.id)
  return detail.service.recent.find((r) => r.activity_id === activityId)?.id ?? null
}
