-- Room on each page of `devices` for a row's next version, so that a check-in's update
-- (which changes no indexed column) is a heap-only tuple update: the new version stays on
-- the page and none of the table's ten indexes gets a new entry. With pages packed full
-- (the default, 100), nearly half the check-ins of a freshly loaded fleet moved their row
-- to another page and wrote an entry into every index (docs/benchmarks.md, fourteenth
-- round). Applies to pages written from now on; `VACUUM FULL devices` in a quiet hour
-- applies it to an existing table (docs/deployment.md, "PostgreSQL's device table").
ALTER TABLE devices SET (fillfactor = 80);
