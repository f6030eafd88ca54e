//! What each role may do: the one permission matrix.
//!
//! Every lender-scoped operation, whether it arrives through the API or the console, asks
//! [`LenderCtx::require`] for one [`Permission`]; nothing else decides. `docs/security.md`
//! prints the same matrix, and a test calls every route as every role and compares the
//! answer with [`Role::allows`].

use crate::lender::{LenderCtx, Role};

/// Something a lender's caller may be allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read devices, timelines, commands, contracts, disputes, notices, the policy.
    ReadDevices,
    /// Enroll devices (one by one or from a file) and create their contracts.
    Enroll,
    /// Record payments, assign unmatched ones, reverse them.
    RecordPayments,
    /// See payments that matched no device.
    ReadPayments,
    /// Lock, unlock, release, approve a changed device key, issue offline codes.
    Command,
    /// Open and close disputes and grant the temporary unlock that comes with one.
    HandleDisputes,
    /// Change the lender's compliance profile and policy settings.
    ManagePolicy,
    /// Create, list, rotate and revoke the lender's API keys.
    ManageKeys,
    /// Configure webhooks and rotate their signing secret.
    ManageWebhooks,
    /// See webhook deliveries and their attempts.
    ReadWebhooks,
    /// Read and export the audit trail.
    ReadAudit,
}

impl Permission {
    /// Every permission, in the order the matrix is printed.
    pub const ALL: [Permission; 11] = [
        Permission::ReadDevices,
        Permission::Enroll,
        Permission::RecordPayments,
        Permission::ReadPayments,
        Permission::Command,
        Permission::HandleDisputes,
        Permission::ManagePolicy,
        Permission::ManageKeys,
        Permission::ManageWebhooks,
        Permission::ReadWebhooks,
        Permission::ReadAudit,
    ];

    /// What the caller was trying to do, for "your role may not ...".
    pub fn describe(self) -> &'static str {
        match self {
            Permission::ReadDevices => "read devices",
            Permission::Enroll => "enroll devices or create contracts",
            Permission::RecordPayments => "record, assign or reverse payments",
            Permission::ReadPayments => "read payments",
            Permission::Command => "lock, unlock or release devices or issue unlock codes",
            Permission::HandleDisputes => "handle disputes",
            Permission::ManagePolicy => "change the lending policy",
            Permission::ManageKeys => "manage API keys",
            Permission::ManageWebhooks => "configure webhooks",
            Permission::ReadWebhooks => "read webhook deliveries",
            Permission::ReadAudit => "read the audit trail",
        }
    }

    /// The stable name used in docs and error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ReadDevices => "read_devices",
            Permission::Enroll => "enroll",
            Permission::RecordPayments => "record_payments",
            Permission::ReadPayments => "read_payments",
            Permission::Command => "command",
            Permission::HandleDisputes => "handle_disputes",
            Permission::ManagePolicy => "manage_policy",
            Permission::ManageKeys => "manage_keys",
            Permission::ManageWebhooks => "manage_webhooks",
            Permission::ReadWebhooks => "read_webhooks",
            Permission::ReadAudit => "read_audit",
        }
    }
}

impl Role {
    /// Every role, in the order the matrix is printed.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::StoreAgent,
        Role::Collections,
        Role::Support,
        Role::Auditor,
    ];

    /// The matrix. Written as one exhaustive match so adding a role or a permission
    /// does not compile until every cell is decided.
    pub fn allows(self, p: Permission) -> bool {
        use Permission as P;
        match self {
            Role::Admin => true,
            Role::StoreAgent => matches!(p, P::ReadDevices | P::Enroll),
            Role::Collections => matches!(
                p,
                P::ReadDevices
                    | P::RecordPayments
                    | P::ReadPayments
                    | P::Command
                    | P::HandleDisputes
            ),
            Role::Support => matches!(p, P::ReadDevices | P::HandleDisputes),
            Role::Auditor => matches!(
                p,
                P::ReadDevices | P::ReadPayments | P::ReadWebhooks | P::ReadAudit
            ),
        }
    }
}

/// The caller's role lacks a permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("your role may not {}", .0.describe())]
pub struct Denied(pub Permission);

impl LenderCtx {
    /// `Ok` when the caller's role allows `p`: the one gate for every lender operation.
    pub fn require(&self, p: Permission) -> Result<(), Denied> {
        if self.role.allows(p) {
            Ok(())
        } else {
            Err(Denied(p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_may_do_everything_and_every_role_may_read_devices() {
        for p in Permission::ALL {
            assert!(Role::Admin.allows(p), "{p:?}");
        }
        for r in Role::ALL {
            assert!(r.allows(Permission::ReadDevices), "{r:?}");
        }
    }

    #[test]
    fn auditor_changes_nothing() {
        for p in [
            Permission::Enroll,
            Permission::RecordPayments,
            Permission::Command,
            Permission::HandleDisputes,
            Permission::ManagePolicy,
            Permission::ManageKeys,
            Permission::ManageWebhooks,
        ] {
            assert!(!Role::Auditor.allows(p), "{p:?}");
        }
    }

    #[test]
    fn only_admins_manage_keys_policy_and_webhooks() {
        for r in Role::ALL {
            for p in [
                Permission::ManageKeys,
                Permission::ManagePolicy,
                Permission::ManageWebhooks,
            ] {
                assert_eq!(r.allows(p), r == Role::Admin, "{r:?} {p:?}");
            }
        }
    }
}
