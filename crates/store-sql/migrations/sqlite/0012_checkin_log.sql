-- A SQLite node appends the check-in of a phone whose view it keeps (`sqlite_views`) here,
-- instead of rewriting the phone's `devices` row: a few dozen bytes at the end of one
-- B-tree, where a row rewrite is a random page through the log. What a record holds (the
-- check-in's counter, lease sequence and times, and the device version it made) is merged
-- into `devices` later, in rowid order, by the views' keeper, and applied at start
-- (docs/architecture.md, "Check-in log"). No index: one by device would be a random page
-- written per check-in again.
CREATE TABLE checkin_log (
    seq          INTEGER PRIMARY KEY,
    device_rowid INTEGER NOT NULL,
    device_id    TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    last_counter INTEGER NOT NULL,
    lease_seq    INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
