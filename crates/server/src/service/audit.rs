//! Reading, exporting and verifying the audit trail, and the operator's own entries.

use super::{Service, ServiceError};
use lienlock_domain::audit::{AuditEntry, AuditRecord, ChainBreak, ChainCheck};
use lienlock_domain::{LenderCtx, Permission};

/// Rows read per store call when walking a whole chain.
pub const AUDIT_PAGE: u32 = 1000;

/// The result of checking one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Which chain.
    pub chain: String,
    /// Rows checked before the end or the break.
    pub rows: u64,
    /// The chain's head hash, hex, for keeping outside the database: with it a later
    /// check also catches a rewrite of the whole chain.
    pub head: Option<String>,
    /// The first broken link, if any.
    pub broken: Option<ChainBreak>,
}

impl Service {
    /// The caller's audit trail, in order, after `after_seq`.
    pub async fn audit_rows(
        &self,
        ctx: &LenderCtx,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, ServiceError> {
        ctx.require(Permission::ReadAudit)?;
        Ok(self
            .store
            .audit_rows(&ctx.lender_id.to_string(), after_seq, limit.min(AUDIT_PAGE))
            .await?)
    }

    /// Appends an entry made outside HTTP (the operator's commands).
    pub async fn append_audit(&self, entry: AuditEntry) -> Result<AuditRecord, ServiceError> {
        Ok(self.store.append_audit(entry).await?)
    }

    /// Checks every chain (operator only: it reads across tenants).
    pub async fn verify_audit(&self) -> Result<Vec<ChainReport>, ServiceError> {
        let mut out = Vec::new();
        for chain in self.store.audit_chains().await? {
            out.push(self.verify_chain(&chain).await?);
        }
        Ok(out)
    }

    /// Checks one chain row by row, then against its head. Rows may be appended while it
    /// walks: when the head has moved past the last row read, it reads on.
    pub async fn verify_chain(&self, chain: &str) -> Result<ChainReport, ServiceError> {
        let mut check = ChainCheck::default();
        let mut rows = 0u64;
        let mut after = 0i64;
        // Set when the head was ahead of the rows once: a second empty read means rows are
        // missing from the end, not being appended.
        let mut waited = false;
        loop {
            let page = self.store.audit_rows(chain, after, AUDIT_PAGE).await?;
            let full = page.len() == AUDIT_PAGE as usize;
            let read_any = !page.is_empty();
            for r in page {
                if let Err(b) = check.push(&r) {
                    let head = self.store.audit_head(chain).await?;
                    return Ok(report(chain, rows, head, Some(b)));
                }
                rows += 1;
                after = r.seq;
            }
            if full {
                continue;
            }
            let head = self.store.audit_head(chain).await?;
            if head.is_some_and(|(seq, _)| seq > after) && (read_any || !waited) {
                waited = !read_any;
                continue;
            }
            let broken = check.finish(head).err();
            return Ok(report(chain, rows, head, broken));
        }
    }
}

fn report(
    chain: &str,
    rows: u64,
    head: Option<(i64, [u8; 32])>,
    broken: Option<ChainBreak>,
) -> ChainReport {
    ChainReport {
        chain: chain.to_owned(),
        rows,
        head: head.map(|h| hex::encode(h.1)),
        broken,
    }
}

impl Service {
    /// Records a command the platform operator ran on the server (`lienlock ctl ...`), in
    /// the lender's chain when it concerns one, else in the platform chain. The operator
    /// is named by the account that ran the command.
    pub async fn audit_operator(
        &self,
        lender: Option<lienlock_domain::LenderId>,
        action: &str,
        object: &str,
    ) -> Result<(), ServiceError> {
        let account = std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "unknown".into());
        self.append_audit(AuditEntry {
            chain: lender.map_or_else(
                || lienlock_domain::audit::PLATFORM_CHAIN.to_owned(),
                |l| l.to_string(),
            ),
            at: self.clock.now(),
            actor: "operator".into(),
            role: "operator".into(),
            address: format!("local:{account}"),
            action: action.into(),
            object: object.into(),
            reason: String::new(),
            outcome: "ok".into(),
            request_id: uuid::Uuid::new_v4().simple().to_string(),
        })
        .await
        .map(|_| ())
    }
}
