/*
 * export: the export tasks. Each loads the event itself by the id in its
 * payload, renders the file and writes it through the storage interface.
 *
 *   export.json        the event with its sessions, speakers, tracks,
 *                      microlocations and sponsors (live rows, dasherized
 *                      keys, ids as strings), for organisers: everything
 *   export.ical        the schedule (accepted and confirmed sessions with
 *                      times) as iCalendar
 *   export.xcal        the same as xCal (RFC 6321)
 *   export.regenerate  for a published public event: the three files at
 *                      stable keys exports/<identifier>/, with public
 *                      content only (no draft sessions, no speakers'
 *                      email or mobile); for other events those files
 *                      are deleted (best effort) and nothing is written
 *
 * Results: {"download_url", "format"} (regenerate: {"json_url",
 * "ical_url", "xcal_url"} or {"skipped"}). An event that is gone is a
 * permanent failure of export.json/ical/xcal.
 */
#ifndef OES_TASKS_EXPORT_H
#define OES_TASKS_EXPORT_H

struct task_run;

void export_task_json(struct task_run *run);
void export_task_ical(struct task_run *run);
void export_task_xcal(struct task_run *run);
void export_task_regenerate(struct task_run *run);

#endif
