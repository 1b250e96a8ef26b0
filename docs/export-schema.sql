-- The tables of `foliotrace export TRACE --sqlite FILE` and `foliotrace fleet PATH... -o FILE`
-- (schema version 2, in the `trace` table). Every row carries the trace_id of its trace: one
-- trace in an export, 1...N in a fleet database; `traces` has one row a file given to the run,
-- an unreadable one with its status and error (docs/fleet.md). The same statements load
-- unchanged into PostgreSQL: only BIGINT, INTEGER and TEXT columns, flags as INTEGER 0/1, NULL
-- where the trace does not show a value. Timestamps are the trace clock in nanoseconds; pfns,
-- inodes and memcg (cgroup) ids are decimal integers. docs/export.md explains the tables and
-- has example queries.

CREATE TABLE traces (
    trace_id BIGINT PRIMARY KEY,
    path TEXT NOT NULL,
    format TEXT,
    host TEXT,
    kernel TEXT,
    recorder TEXT,
    cpus INTEGER,
    events BIGINT,
    lost_events BIGINT,
    findings BIGINT,
    status TEXT NOT NULL,
    error TEXT
);
CREATE TABLE trace (
    trace_id BIGINT PRIMARY KEY,
    schema_version INTEGER NOT NULL,
    file TEXT NOT NULL,
    kernel TEXT,
    cpus INTEGER NOT NULL,
    events BIGINT NOT NULL,
    first_ts BIGINT NOT NULL,
    last_ts BIGINT NOT NULL,
    lost_events BIGINT NOT NULL
);
CREATE TABLE memcgs (
    trace_id BIGINT NOT NULL,
    id BIGINT NOT NULL,
    path TEXT,
    generations BIGINT NOT NULL,
    pages_charged BIGINT NOT NULL,
    pages_reclaimed BIGINT NOT NULL,
    pages_refaulted BIGINT NOT NULL,
    pages_moved_in BIGINT NOT NULL,
    pages_moved_out BIGINT NOT NULL,
    pages_live_at_end BIGINT NOT NULL,
    page_cache_pages_at_end BIGINT NOT NULL,
    PRIMARY KEY (trace_id, id)
);
CREATE TABLE tasks (
    trace_id BIGINT NOT NULL,
    pid INTEGER NOT NULL,
    comm TEXT NOT NULL,
    PRIMARY KEY (trace_id, pid)
);
CREATE TABLE task_cgroups (
    trace_id BIGINT NOT NULL,
    pid INTEGER NOT NULL,
    cgroup BIGINT NOT NULL,
    since_ts BIGINT NOT NULL
);
CREATE TABLE generations (
    trace_id BIGINT NOT NULL,
    pfn BIGINT NOT NULL,
    generation INTEGER NOT NULL,
    folio_order INTEGER NOT NULL,
    pages BIGINT NOT NULL,
    allocated_ts BIGINT,
    first_seen_ts BIGINT NOT NULL,
    freed_ts BIGINT,
    alloc_pid INTEGER,
    freed_by INTEGER,
    free_context TEXT,
    memcg BIGINT,
    attribution TEXT NOT NULL,
    dev BIGINT,
    inode BIGINT,
    file_index BIGINT,
    page_cache_added_ts BIGINT,
    page_cache_deleted_ts BIGINT,
    evicted INTEGER NOT NULL,
    lru TEXT,
    lru_insertions INTEGER NOT NULL,
    activations INTEGER NOT NULL,
    written_back_by_reclaim INTEGER NOT NULL,
    charge_moves INTEGER NOT NULL,
    migrated_from BIGINT,
    migrated_to BIGINT,
    migration_reason TEXT,
    crosses_lost_events INTEGER NOT NULL,
    PRIMARY KEY (trace_id, pfn, generation)
);
CREATE TABLE steps (
    trace_id BIGINT NOT NULL,
    pfn BIGINT NOT NULL,
    generation INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    ts BIGINT NOT NULL,
    cpu INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL,
    memcg BIGINT,
    PRIMARY KEY (trace_id, pfn, generation, seq)
);
CREATE TABLE migrations (
    trace_id BIGINT NOT NULL,
    old_pfn BIGINT NOT NULL,
    old_generation INTEGER NOT NULL,
    new_pfn BIGINT NOT NULL,
    folio_order INTEGER NOT NULL,
    reason TEXT,
    memcg BIGINT
);
CREATE TABLE rules (
    trace_id BIGINT NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    title TEXT NOT NULL,
    runnable INTEGER NOT NULL,
    missing TEXT NOT NULL,
    findings BIGINT NOT NULL,
    PRIMARY KEY (trace_id, rule)
);
CREATE TABLE findings (
    trace_id BIGINT NOT NULL,
    id BIGINT NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    pfn BIGINT NOT NULL,
    generation INTEGER NOT NULL,
    folio_order INTEGER NOT NULL,
    inode BIGINT,
    file_index BIGINT,
    memcg BIGINT,
    other_memcg BIGINT,
    ts BIGINT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (trace_id, id)
);
CREATE TABLE evidence (
    trace_id BIGINT NOT NULL,
    finding_id BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    cpu INTEGER NOT NULL,
    ts BIGINT NOT NULL,
    pid INTEGER NOT NULL,
    PRIMARY KEY (trace_id, finding_id, seq)
);
CREATE INDEX traces_kernel ON traces (kernel);
CREATE INDEX generations_memcg ON generations (memcg);
CREATE INDEX generations_file ON generations (inode, file_index);
CREATE INDEX migrations_old ON migrations (trace_id, old_pfn);
CREATE INDEX migrations_new ON migrations (trace_id, new_pfn);
CREATE INDEX findings_rule ON findings (rule);
CREATE INDEX findings_memcg ON findings (memcg, other_memcg);
CREATE INDEX task_cgroups_pid ON task_cgroups (trace_id, pid);
