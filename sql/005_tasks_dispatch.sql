-- 005_tasks_dispatch.sql: what task dispatch, the periodic jobs and the
-- exports need beyond 001 (spec §7).
--
--   * tasks.dedupe_key: a task enqueued with a key is coalesced into the
--     PENDING task of the same key, if any (export regeneration: ten
--     changes within the coalescing window make one export).
--   * periodic_jobs: when each periodic job last ran, so that with several
--     instances a job runs once per interval (each run also holds an
--     advisory lock).
--   * oes_export_row(jsonb): a row as exported: dasherized keys, ids
--     (id and *_id) as strings, deleted_at left out.
--   * images_source on events, speakers and users: the image their derived
--     images were made from.

ALTER TABLE tasks ADD COLUMN dedupe_key text;
CREATE UNIQUE INDEX tasks_dedupe_pending_key ON tasks (dedupe_key)
    WHERE state = 'PENDING' AND dedupe_key IS NOT NULL;

CREATE TABLE periodic_jobs (
    name        text PRIMARY KEY,
    last_run_at timestamptz NOT NULL
);

CREATE FUNCTION oes_export_row(j jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT coalesce(jsonb_object_agg(
               replace(kv.key, '_', '-'),
               CASE WHEN (kv.key = 'id' OR kv.key LIKE '%\_id')
                         AND jsonb_typeof(kv.value) = 'number'
                    THEN to_jsonb(kv.value #>> '{}')
                    ELSE kv.value END), '{}'::jsonb)
    FROM jsonb_each(j - 'deleted_at') kv
$fn$;

-- Derived images (spec §6): the original URL the resized images of a row
-- were made from; a write that keeps the original derives nothing again.
ALTER TABLE events ADD COLUMN images_source text;
ALTER TABLE speakers ADD COLUMN images_source text;
ALTER TABLE users ADD COLUMN images_source text;
