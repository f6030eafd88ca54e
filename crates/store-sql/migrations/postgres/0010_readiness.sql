-- What `/readyz` writes: ready means a write can be made, not only a read. A full disk or
-- a read-only standby still answers reads, and every lender's payment and phone's check-in
-- is a write. PostgreSQL flavour; keep in step with ../sqlite/0010_readiness.sql.
CREATE TABLE readiness_probe (
    id     INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    writes BIGINT  NOT NULL
);
