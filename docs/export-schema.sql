-- The tables of `foliotrace export TRACE --sqlite FILE` (schema version 1, in the `trace`
-- table). The same statements load unchanged into PostgreSQL: only BIGINT, INTEGER and TEXT
-- columns, flags as INTEGER 0/1, NULL where the trace does not show a value. Timestamps are
-- the trace clock in nanoseconds; pfns, inodes and memcg (cgroup) ids are decimal integers.
-- docs/export.md explains the tables and has example queries.

CREATE TABLE trace (
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
    id BIGINT PRIMARY KEY,
    path TEXT,
    generations BIGINT NOT NULL,
    pages_charged BIGINT NOT NULL,
    pages_reclaimed BIGINT NOT NULL,
    pages_refaulted BIGINT NOT NULL,
    pages_moved_in BIGINT NOT NULL,
    pages_moved_out BIGINT NOT NULL,
    pages_live_at_end BIGINT NOT NULL,
    page_cache_pages_at_end BIGINT NOT NULL
);
CREATE TABLE tasks (
    pid INTEGER PRIMARY KEY,
    comm TEXT NOT NULL
);
CREATE TABLE task_cgroups (
    pid INTEGER NOT NULL,
    cgroup BIGINT NOT NULL,
    since_ts BIGINT NOT NULL
);
CREATE TABLE generations (
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
    PRIMARY KEY (pfn, generation)
);
CREATE TABLE steps (
    pfn BIGINT NOT NULL,
    generation INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    ts BIGINT NOT NULL,
    cpu INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL,
    memcg BIGINT,
    PRIMARY KEY (pfn, generation, seq)
);
CREATE TABLE migrations (
    old_pfn BIGINT NOT NULL,
    old_generation INTEGER NOT NULL,
    new_pfn BIGINT NOT NULL,
    folio_order INTEGER NOT NULL,
    reason TEXT,
    memcg BIGINT
);
CREATE TABLE rules (
    rule TEXT PRIMARY KEY,
    severity TEXT NOT NULL,
    title TEXT NOT NULL,
    runnable INTEGER NOT NULL,
    missing TEXT NOT NULL,
    findings BIGINT NOT NULL
);
CREATE TABLE findings (
    id BIGINT PRIMARY KEY,
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
    message TEXT NOT NULL
);
CREATE TABLE evidence (
    finding_id BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    cpu INTEGER NOT NULL,
    ts BIGINT NOT NULL,
    pid INTEGER NOT NULL,
    PRIMARY KEY (finding_id, seq)
);
CREATE INDEX generations_memcg ON generations (memcg);
CREATE INDEX generations_file ON generations (inode, file_index);
CREATE INDEX migrations_old ON migrations (old_pfn);
CREATE INDEX migrations_new ON migrations (new_pfn);
CREATE INDEX findings_rule ON findings (rule);
CREATE INDEX findings_memcg ON findings (memcg, other_memcg);
CREATE INDEX task_cgroups_pid ON task_cgroups (pid);
