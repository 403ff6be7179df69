/*
 * images: the `images.derive` task (spec §6): when an event's
 * original-image-url, a speaker's photo-url or a user's avatar-url points
 * to an image in this server's storage, it writes the resized images (the
 * original's sizes, cropped to fill: events 1300x500 large, 500x200
 * thumbnail, 75x30 icon; speakers and users 500, 50 and 35 square as
 * thumbnail, small and icon) and fills their URLs. libvips resizes on the
 * worker pool, never on the loop. The row remembers the source it derived
 * from (images_source), so other writes of the row derive nothing; the
 * URLs are written only if the source is still the same.
 */
#ifndef OES_TASKS_IMAGES_H
#define OES_TASKS_IMAGES_H

struct task_run;

/* Payload {"type": "event"|"speaker"|"user", "id": N}. Result {"urls":
 * {...}} or {"skipped": why}. An image libvips cannot read fails for good. */
void images_task_derive(struct task_run *run);

/* After a committed write of a row of type (event, speaker, user; other
 * types are ignored): enqueues images.derive when the row's image is set
 * and differs from the one its images were derived from (one conditional
 * INSERT; nothing is written otherwise). Writes within delay_ms coalesce. */
void images_on_write(const char *type, long long id, int delay_ms);

#endif
