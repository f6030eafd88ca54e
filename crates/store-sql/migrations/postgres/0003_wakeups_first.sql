-- Wake-ups before routine evaluations. PostgreSQL flavour; keep in step with
-- ../sqlite/0003_wakeups_first.sql.
--
-- A payment, an assignment or a dispute wakes its contract so the policy engine can lift a
-- restriction at once. Ordering the scheduler's work by evaluation time alone would make
-- that wake-up wait behind every routine evaluation that came due earlier (a backlog after
-- an outage, say). `woken_at` marks a contract a wake-up touched since its last
-- evaluation, so the scheduler serves those first; the evaluation that saw the wake-up
-- clears it (see Store::due_contracts).
ALTER TABLE contracts ADD COLUMN woken_at BIGINT;

-- Partial: holds only the contracts waiting for a wake-up evaluation, a handful at a time.
CREATE INDEX contracts_woken ON contracts (woken_at, id) WHERE woken_at IS NOT NULL;
